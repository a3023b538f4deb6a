"""Reading ticket files (CSV/JSONL, column mapping, broken rows) and finding their questions."""

from __future__ import annotations

import json

import pytest

from bot.engine.errors import InputError
from bot.engine.query import strip_noise
from bot.engine.tickets import csv_records, extract_questions, read_tickets, ticket_text

HEADER = b"id,subject,body,provider\r\n"


def _csv(tmp_path, body: bytes, name="t.csv", header=HEADER):
    p = tmp_path / name
    p.write_bytes(header + body)
    return p


def test_csv_records_keep_multiline_fields_and_resync_after_broken_quoting():
    data = (
        b"id,text\n"
        b'a,"two\nlines"\n'
        b'bad,"stray "quote" here"\n'  # quoting error: one row, the next row is intact
        b"b,plain\n"
        b'c,"never closed\n'
        b"d,after the unclosed one\n"
        b"e,one,too many\n"
        b"f,last without newline"
    )
    recs = list(csv_records(data))
    assert [r.line for r in recs] == [1, 2, 4, 5, 6, 7, 8, 9]
    assert recs[1].fields == ("a", "two\nlines") and recs[1].error is None
    assert "quoting" in recs[2].error and recs[2].fields[0] == "bad"
    assert recs[3].fields == ("b", "plain")
    assert recs[4].error and recs[4].fields[0] == "c"
    assert recs[5].fields == ("d", "after the unclosed one") and recs[5].error is None
    assert recs[6].error == "3 fields where the header has 2"
    assert recs[7].fields == ("f", "last without newline") and not recs[7].complete and recs[6].complete
    assert recs[-1].end == len(data)


def test_read_csv_default_mapping_joins_subject_and_body(tmp_path):
    p = _csv(tmp_path, b'T-1,Istio question,"Hi,\n\nIs Istio supported?",aks\r\nT-2,,Can I ssh into nodes?,\r\n')
    tf = read_tickets(p)
    assert tf.format == "csv" and tf.columns == ["id", "subject", "body", "provider"] and tf.errors == 0
    t1, t2 = tf.tickets
    assert (t1.id, t1.line, t1.provider) == ("T-1", 2, "aks")
    assert t1.text == "Istio question\n\nHi,\n\nIs Istio supported?"
    assert t1.fields["body"] == "Hi,\n\nIs Istio supported?"
    assert (t2.line, t2.text, t2.provider) == (5, "Can I ssh into nodes?", None)


def test_read_csv_explicit_columns_bom_and_semicolons(tmp_path):
    p = tmp_path / "export.csv"
    p.write_bytes("\ufeffKey;Title;Description;Cloud\r\nK1;Helm;Is Helm supported?;OKE\r\n".encode("utf-8"))
    tf = read_tickets(p, id_col="Key", text_cols="Description", provider_col="Cloud")
    (t,) = tf.tickets
    assert (t.id, t.text, t.provider, t.error) == ("K1", "Is Helm supported?", "OKE", None)
    tsv = tmp_path / "export.tsv"
    tsv.write_text("id\ttext\nx\tIs Envoy supported?\n", encoding="utf-8")
    assert read_tickets(tsv).tickets[0].text == "Is Envoy supported?"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"id_col": "ticket"}, "no column 'ticket' for the ticket id"),
        ({"text_cols": "subject,description"}, "no column 'description' for the text"),
        ({"provider_col": "cloud"}, "no column 'cloud' for the provider"),
    ],
)
def test_a_mapping_that_names_no_column_fails_before_anything_runs(tmp_path, kwargs, message):
    p = _csv(tmp_path, b"T-1,s,b,\r\n")
    with pytest.raises(InputError, match=message) as e:
        read_tickets(p, **kwargs)
    assert "columns: id, subject, body, provider" in str(e.value)


def test_whole_file_problems(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_tickets(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_tickets(tmp_path / "empty.csv")
    (tmp_path / "notext.csv").write_bytes(b"id,title\n1,x\n")
    with pytest.raises(InputError, match="no text column") as e:
        read_tickets(tmp_path / "notext.csv")
    assert "--text-cols" in str(e.value)
    (tmp_path / "noid.csv").write_bytes(b"key,question\n1,x\n")
    with pytest.raises(InputError, match="--id-col"):
        read_tickets(tmp_path / "noid.csv")


def test_bad_csv_rows_become_tickets_with_an_error_and_their_line(tmp_path):
    body = (
        b",s,Who upgrades the control plane?,\r\n"  # missing id
        b"E,,,\r\n"  # empty text
        b"B,Caf\xe9,Is Helm supported?,\r\n"  # Latin-1
        b'Q,"a "b" c",Is Istio supported?,\r\n'  # quoting
        b"F,only three,fields\r\n"  # field count
        b"N,s,nul\x00byte,\r\n"  # NUL
        b"OK,s,Is Envoy supported?,\r\n"
    )
    tf = read_tickets(_csv(tmp_path, body))
    errors = {t.line: t.error for t in tf.tickets if t.error}
    assert errors == {
        2: "line 2: missing id (column 'id')",
        3: "line 3: empty text (columns subject, body)",
        4: "line 4: bytes that are not UTF-8 in column 'subject'",
        5: "line 5: bad CSV quoting (',' expected after '\"')",
        6: "line 6: 3 fields where the header has 4",
        7: "line 7: a NUL byte in column 'body'",
    }
    assert [t.id for t in tf.tickets] == [None, "E", "B", "Q", "F", "N", "OK"]
    assert tf.tickets[2].fields["subject"] == "Caf\ufffd"  # kept, readable, writable
    assert tf.tickets[-1].error is None and tf.tickets[-1].text == "s\n\nIs Envoy supported?"


def test_read_jsonl_question_files_and_bad_lines(tmp_path):
    p = tmp_path / "q.jsonl"
    lines = [
        json.dumps({"id": 7, "question": "Is Istio supported?", "provider": "aks"}),
        json.dumps({"id": "b", "text": "Is Helm supported?"}),
        json.dumps({"id": "c", "subject": "Nodes", "body": "Can I ssh into my nodes?"}),
        '{"id": "broken", ',
        "[1, 2]",
        json.dumps({"question": "no id"}),
    ]
    p.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "x", "question": "caf\xe9"}\n')
    tf = read_tickets(p)
    assert tf.format == "jsonl"
    t = tf.tickets
    assert (t[0].id, t[0].text, t[0].provider) == ("7", "Is Istio supported?", "aks")
    assert t[1].text == "Is Helm supported?" and t[2].text == "Nodes\n\nCan I ssh into my nodes?"
    assert t[3].error.startswith("line 4: invalid JSON") and t[3].id is None
    assert t[4].error == "line 5: a JSON list, not an object"
    assert t[5].error == "line 6: missing id (column 'id')"
    assert t[6].error.startswith("line 7: bytes that are not UTF-8")


def test_default_text_is_the_first_non_empty_of_question_text_subject_body():
    assert ticket_text({"question": "q", "text": "t", "subject": "s"}, None) == ("q", ("question",))
    assert ticket_text({"question": " ", "text": "t"}, None) == ("t", ("text",))
    assert ticket_text({"subject": "s", "body": "b"}, None) == ("s\n\nb", ("subject", "body"))
    assert ticket_text({"body": "b"}, None) == ("b", ("subject", "body"))
    assert ticket_text({"a": "x", "b": "y", "c": "z"}, ("c", "a")) == ("z\n\nx", ("c", "a"))


TICKET = """Hi team,

We run Linkerd 2.14 as our service mesh on the cluster. Is that supported?

2026-03-02T10:11:12Z level=error msg="proxy failed" retries=3

Also: can we ssh into the worker nodes to debug the proxy? Any update?

Thanks,
Priya
"""


def test_extract_questions_splits_a_multi_question_ticket():
    qs = extract_questions(strip_noise(TICKET))
    assert qs == [
        "We run Linkerd 2.14 as our service mesh on the cluster. Is that supported?",
        "can we ssh into the worker nodes to debug the proxy?",
    ]


def test_extract_questions_requests_duplicates_and_limit():
    text = "Please confirm whether Helm is supported. Is Helm supported? Is Envoy supported? Is Istio supported?"
    assert extract_questions(text) == ["Please confirm whether Helm is supported.", "Is Helm supported?", "Is Envoy supported?", "Is Istio supported?"]
    assert extract_questions(text + " Is helm   supported?", limit=2) == ["Please confirm whether Helm is supported.", "Is Helm supported?"]
    assert extract_questions("Is this supported? Is this supported?", has_subject=lambda q: "this" not in q) == []
    assert extract_questions("Our nodes rebooted last night and the logs are attached.") == []


# -- prepare: one ticket, ready to answer --------------------------------------------------------

from bot.engine.providers import ProviderNames  # noqa: E402
from bot.engine.tickets import prepare  # noqa: E402
from bot.engine.types import Provider  # noqa: E402

_NAMES = ProviderNames({
    "acme": Provider("acme", "Acme Cloud", "Acme Container Engine (ACE)"),
    "zen": Provider("zen", "Zenith Systems", "Zen Compute"),
})


def _prep(text, provider=None, **kw):
    kw.setdefault("limit", 10_000)
    return prepare(text, provider, names=_NAMES, has_subject=lambda q: "supported" in q or "backup" in q, **kw)


def test_prepare_resolves_the_provider_by_any_name():
    p = _prep("Is tracing supported?", "Acme Cloud")
    assert p.provider == "acme" and p.text == "Is tracing supported?" and p.notes == () and p.questions == ()
    assert _prep("Is tracing supported?").provider is None


def test_prepare_refuses_an_unknown_provider_and_an_empty_text():
    with pytest.raises(InputError, match="unknown provider 'Globex'"):
        _prep("Is tracing supported?", "Globex")
    with pytest.raises(InputError, match="the ticket text is empty"):
        _prep("  \n ")


def test_prepare_trims_at_the_limit_with_a_note():
    p = _prep("x" * 120, limit=100)
    assert p.text == "x" * 100 and p.notes == ("ticket text trimmed from 120 to 100 characters",)


def test_prepare_finds_the_separate_questions_and_their_scope():
    text = "Hello team. Is tracing supported on Zen Compute? Also: are etcd backup jobs supported there too?"
    p = _prep(text)
    assert p.mentioned == ("zen",) and len(p.questions) == 2 and p.question_scope == "zen"
    assert _prep(text, "acme").question_scope == "acme"  # the caller's provider wins
    assert _prep(text, split=False).questions == () and _prep(text, split=False).question_scope is None
    assert _prep("Is tracing supported on ACE?").questions == ()  # one question: answered whole

/*
 * Support-triage chat widget. One tag embeds it on any page:
 *
 *   <script src="https://HOST/widget.js" data-key="WIDGET-KEY" data-provider="PROVIDER-ID" defer></script>
 *
 * The API base is where this script was loaded from; data-key is the site's public widget key
 * (sent as X-Widget-Key; the server accepts it only from the origins it allows), needed when
 * the server has keys configured; data-provider (optional, read at each question) scopes
 * answers to one provider id from GET /v1/providers. Everything lives in a
 * Shadow DOM so the host page's styles and ours never meet. Untrusted text (the user's, the
 * corpus's, error messages) is only ever set as text: createElement / textContent / append,
 * never innerHTML. Links are kept only when they are http(s).
 */
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script || window.__triageWidget) return;
  window.__triageWidget = true;

  const base = new URL(".", script.src).href.replace(/\/$/, "");
  const SESSION_KEY = "triage-widget:session:" + base;
  const LABEL = {
    "covered": "Covered",
    "best-effort": "Best effort",
    "not-covered": "Not covered",
    "unknown": "Not decided",
  };
  // A decided verdict a human must check (the finding's "escalate"): undecided at a glance.
  const CHECK = "? — check";
  let providers = null; // id -> {vendor, product}
  let session = null;
  let busy = false;

  // -- small DOM helpers (text only) -------------------------------------------------------

  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") n.className = v;
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) n.append(c);
    return n;
  }

  function safeUrl(u) {
    try {
      const url = new URL(u);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function link(href, text) {
    const url = safeUrl(href);
    return url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, text) : text;
  }

  // **bold**, _emphasis_ and [text](http-url), the only markup answers use; the rest is text.
  const INLINE = /\*\*(.+?)\*\*|\[([^\]]+)\]\(([^)\s]+)\)|(?<!\w)_(.+?)_(?!\w)/g;

  function richText(text) {
    const box = el("div", { class: "text" });
    for (const para of String(text).split(/\n{2,}/)) {
      const p = el("p");
      let last = 0;
      for (const m of para.matchAll(INLINE)) {
        p.append(para.slice(last, m.index));
        if (m[1] !== undefined) p.append(el("strong", {}, m[1]));
        else if (m[2] !== undefined) p.append(link(m[3], m[2]));
        else p.append(el("em", {}, m[4]));
        last = m.index + m[0].length;
      }
      p.append(para.slice(last));
      box.append(p);
    }
    return box;
  }

  function providerName(id) {
    const p = providers && providers[id];
    return p ? p.product || p.vendor || id : id;
  }

  function scope() {
    const p = (script.getAttribute("data-provider") || "").trim();
    return p || null;
  }

  function loadSession() {
    try {
      return sessionStorage.getItem(SESSION_KEY);
    } catch (_) {
      return session;
    }
  }

  function saveSession(id) {
    session = id;
    try {
      sessionStorage.setItem(SESSION_KEY, id);
    } catch (_) {
      /* storage disabled: the in-memory id still carries follow-ups on this page */
    }
  }

  // -- the API -------------------------------------------------------------------------

  function widgetKey() {
    return (script.getAttribute("data-key") || "").trim() || null;
  }

  // What the panel says when the API refuses: the server's own words, and for the refusals a
  // visitor cannot fix (keys, limits) what it means for them.
  function problem(res, data) {
    const e = data && data.error;
    // a hint naming a command (`…`) is advice for operators, not for visitors
    const hint = e && e.hint && e.hint.indexOf("`") < 0 ? e.hint : "";
    const detail = e ? e.message + (hint ? " — " + hint : "") : "";
    if (res.status === 413) {
      return "Your question is too long" + (e ? " (" + e.message + ")" : "") +
        ". Please ask the question itself, in a sentence or two.";
    }
    if (res.status === 429) {
      const s = parseInt(res.headers.get("Retry-After") || "", 10);
      const wait = s > 0 ? s + (s === 1 ? " second" : " seconds") : "a moment";
      return "Too many questions just now. Please wait " + wait + " and try again.";
    }
    if (res.status === 401 || res.status === 403) {
      return "This page may not use the assistant (" + res.status + (detail ? ": " + detail : "") +
        "). Please tell the site's owner.";
    }
    const ref = e && e.request_id && res.status >= 500 ? " (reference " + e.request_id + ")" : "";
    return (detail || "The assistant answered " + res.status + ".") + ref;
  }

  async function api(path, body) {
    const headers = {};
    const key = widgetKey();
    if (key) headers["X-Widget-Key"] = key;
    const init = { headers };
    if (body !== undefined) {
      init.method = "POST";
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(base + path, init);
    } catch (_) {
      throw new Error("Could not reach the assistant (network error). Please try again.");
    }
    let data = null;
    try {
      data = await res.json();
    } catch (_) {
      /* not JSON: reported below */
    }
    if (!res.ok) throw new Error(problem(res, data));
    return data;
  }

  async function loadProviders() {
    if (providers) return;
    try {
      const info = await api("/v1/providers");
      providers = {};
      for (const p of info.providers) providers[p.id] = p;
      updateScope();
    } catch (_) {
      /* names fall back to ids; retried on the next question */
    }
  }

  // -- the UI --------------------------------------------------------------------------

  // Icons are drawn in SVG rather than emoji: they render the same without emoji fonts.
  function icon(d, size, cls) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    for (const [k, v] of Object.entries({ viewBox: "0 0 24 24", width: size, height: size, "aria-hidden": "true" })) svg.setAttribute(k, v);
    if (cls) svg.setAttribute("class", cls);
    const path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", d);
    svg.append(path);
    return svg;
  }

  function chatIcon() {
    return icon("M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z", "28");
  }

  const host = el("div", { id: "triage-widget-host" });
  const root = host.attachShadow({ mode: "open" });
  const wrap = el("div", { class: "wrap", hidden: true });
  const css = el("link", { rel: "stylesheet", href: base + "/widget.css" });
  css.addEventListener("load", () => (wrap.hidden = false));
  css.addEventListener("error", () => (wrap.hidden = false));

  const launcher = el("button", {
    class: "launcher", type: "button", "aria-label": "Open support chat", "aria-expanded": "false",
    "aria-controls": "triage-panel", title: "Support chat",
  }, chatIcon());
  const scopeLine = el("p", { class: "scope" });
  const closeBtn = el("button", { class: "close", type: "button", "aria-label": "Close chat", title: "Close (Esc)" }, "×");
  const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  const typing = el("div", { class: "typing", role: "status", "aria-label": "The assistant is typing", hidden: true },
    el("span"), el("span"), el("span"));
  const input = el("textarea", {
    class: "input", rows: "2", "aria-label": "Your question", placeholder: "Ask whether something is supported…",
  });
  const send = el("button", { class: "send", type: "submit", "aria-label": "Send question" }, "Send");
  const form = el("form", { class: "composer" }, input, send);
  const panel = el("div", { id: "triage-panel", class: "panel", role: "dialog", "aria-label": "Support assistant", hidden: true },
    el("div", { class: "head" }, el("div", {}, el("h2", {}, "Support assistant"), scopeLine), closeBtn),
    log, typing, form);
  wrap.append(launcher, panel);
  root.append(css, wrap);

  function updateScope() {
    const p = scope();
    scopeLine.textContent = p ? "Answers for " + providerName(p) : "Answers for every provider";
  }

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", "Support chat (open)");
    if (!log.childElementCount) {
      log.append(el("div", { class: "msg bot hello" },
        "Ask whether something is supported — each vendor's answer is quoted from its own support policy."));
    }
    loadProviders();
    updateScope();
    input.focus();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", "Open support chat");
    launcher.focus();
  }

  function thumb(down) {
    const svg = icon("M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 8 6 8.5 6 9v10a2 2 0 0 0 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z", "16", "thumb");
    if (down) svg.setAttribute("transform", "rotate(180)");
    return svg;
  }

  // 👍/👎 (re-rating replaces the earlier rating on the server), and after 👎 an optional
  // comment, sent as the same rating with the comment.
  function feedbackRow(answerId) {
    const status = el("span", { class: "rate-status", "aria-live": "polite" });
    const buttons = {};
    const comment = el("textarea", { class: "comment-input", rows: "2", maxlength: "4000",
      "aria-label": "What was wrong? (optional)", placeholder: "What was wrong? (optional)" });
    const commentSend = el("button", { type: "submit", class: "comment-send" }, "Send comment");
    const commentForm = el("form", { class: "comment", hidden: true }, comment, commentSend);
    async function rate(rating, note) {
      Object.values(buttons).forEach((b) => (b.disabled = true));
      commentSend.disabled = true;
      status.removeAttribute("role");
      try {
        await api("/v1/feedback", note ? { answer_id: answerId, rating, comment: note } : { answer_id: answerId, rating });
        for (const [r, b] of Object.entries(buttons)) b.setAttribute("aria-pressed", String(r === rating));
        commentForm.hidden = rating !== "down" || Boolean(note);
        status.textContent = note ? "Thanks — your comment is saved." : "Thanks for the feedback.";
        if (!commentForm.hidden) comment.focus();
      } catch (e) {
        status.textContent = "Feedback not saved: " + e.message;
        status.setAttribute("role", "alert");
      } finally {
        Object.values(buttons).forEach((b) => (b.disabled = false));
        commentSend.disabled = false;
      }
    }
    for (const [rating, word, label] of [["up", "Yes", "Helpful"], ["down", "No", "Not helpful"]]) {
      const b = el("button", { type: "button", class: "rate", "aria-label": label, "aria-pressed": "false", title: label },
        thumb(rating === "down"), el("span", { "aria-hidden": "true" }, word));
      b.addEventListener("click", () => rate(rating));
      buttons[rating] = b;
    }
    commentForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (comment.value.trim()) rate("down", comment.value.trim());
    });
    return el("div", { class: "feedback" }, el("span", {}, "Was this helpful?"), buttons.up, buttons.down, status, commentForm);
  }

  function citation(c, inline) {
    return el(inline ? "figure" : "li", { class: inline ? "cite first" : "cite" },
      el("blockquote", { class: "quote" }, c.quote),
      el("div", { class: "where" }, [c.title, c.section].filter(Boolean).join(" › ")),
      safeUrl(c.link || c.url) ? link(c.link || c.url, "Open this section of the source") : null);
  }

  // A decided finding shows its first (deciding) quote inline, the rest collapsed; an
  // undecided one only collapsed passages, said not to decide it.
  function sources(f) {
    const cites = f.citations || [];
    const decided = f.verdict !== "unknown";
    const rest = decided ? cites.slice(1) : cites;
    const out = [];
    if (decided && cites.length) out.push(citation(cites[0], true));
    if (rest.length) {
      const title = (decided ? "More sources" : "Closest passages (they do not decide it)") + " — " +
        providerName(f.provider) + " (" + rest.length + ")";
      out.push(el("details", { class: "sources" }, el("summary", {}, title),
        el("ol", {}, ...rest.map((c) => citation(c, false)))));
    }
    return out;
  }

  function badgeText(f) {
    const base = LABEL[f.verdict] || f.verdict;
    return f.escalate && f.verdict !== "unknown" ? base + CHECK : base;
  }

  // The answer text as the core composes it: a paragraph per finding (its bold
  // "<vendor>: <label>." lead, which the badge says, dropped), then the one "Needs a human"
  // line when it escalates. null when the text has another shape.
  function paragraphs(data) {
    const parts = String(data.answer || "").split(/\n\n/);
    const n = data.findings.length;
    if (!n || (parts.length !== n && parts.length !== n + 1)) return null;
    return {
      // the source link goes with the quote shown inline below, not twice
      texts: parts.slice(0, n).map((p) => p.replace(/^\*\*[^*\n]+\*\*\s*/, "").replace(/\s*Source: \[[^\]]*\]\([^)\s]*\)\.$/, "")),
      human: parts.length > n ? parts[n].replace(/^_+|_+$/g, "").replace(/^Needs a human:\s*/, "") : null,
    };
  }

  function answerMessage(data) {
    const msg = el("div", { class: "msg bot answer" });
    const badges = el("div", { class: "badges" });
    for (const f of data.findings) {
      badges.append(el("span", { class: "badge", "data-verdict": f.verdict, "data-provider": f.provider,
        "data-escalate": f.escalate ? "true" : null },
        el("span", { class: "badge-name" }, providerName(f.provider) + ": "), badgeText(f)));
    }
    msg.append(badges);
    if (data.resolved_question && data.resolved_question !== data.question) {
      msg.append(el("p", { class: "resolved" }, "Answered as: “" + data.resolved_question + "”"));
    }
    const parts = paragraphs(data);
    if (!parts) msg.append(richText(data.answer));
    data.findings.forEach((f, i) => {
      const box = el("section", { class: "finding", "data-provider": f.provider, "data-verdict": f.verdict,
        "data-escalate": f.escalate ? "true" : null });
      if (parts) box.append(el("h3", { class: "finding-name" }, providerName(f.provider)), richText(parts.texts[i]));
      box.append(...sources(f));
      msg.append(box);
    });
    if (data.escalate) {
      msg.append(el("p", { class: "human", role: "note" }, el("strong", {}, "Needs a human: "),
        (parts && parts.human) || "the policies do not clearly decide this."));
    }
    msg.append(feedbackRow(data.answer_id));
    return msg;
  }

  async function ask(question) {
    if (busy || !question.trim()) return;
    busy = true;
    send.disabled = true;
    log.append(el("div", { class: "msg user" }, question));
    input.value = "";
    typing.hidden = false;
    log.scrollTop = log.scrollHeight;
    let reply;
    try {
      await loadProviders();
      const data = await api("/v1/ask", { question, provider: scope(), session_id: loadSession() });
      if (data.session_id) saveSession(data.session_id);
      reply = answerMessage(data);
    } catch (e) {
      reply = el("div", { class: "msg error", role: "alert" }, "Sorry — " + e.message);
    } finally {
      typing.hidden = true;
      busy = false;
      send.disabled = false;
    }
    log.append(reply);
    log.scrollTop = reply.offsetTop - log.offsetTop - 8; // the start of the reply, not its end
    input.focus();
  }

  launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
  closeBtn.addEventListener("click", close);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    ask(input.value);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      ask(input.value);
    }
  });
  panel.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.preventDefault();
      close();
    }
  });
  new MutationObserver(updateScope).observe(script, { attributes: true, attributeFilter: ["data-provider"] });

  function mount() {
    document.body.append(host);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();

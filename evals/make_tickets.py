"""Write evals/tickets.csv: synthetic support tickets for the batch-triage demo, tests and benchmark.

Deterministic (fixed seed): `python evals/make_tickets.py` rewrites the same file. The tickets
are made up — topics follow what the two policy documents in corpus/ talk about, plus
off-topic mail — with realistic noise: greetings, signatures, quoted replies, disclaimers,
kubectl output, klog lines, stack traces and JSON. Some name a vendor in the text, some carry
a value in the `provider` column (ids and the vendor names a CRM would use), some ask several
questions at once.

Six rows are broken on purpose (their ids start with BROKEN-, one has no id at all) and are
inserted as raw bytes, because a CSV writer cannot produce them:

    (no id)         the id cell is empty
    BROKEN-empty    subject and body are empty
    BROKEN-bytes    Latin-1 bytes, not UTF-8
    BROKEN-quote    a quoted field with a stray quote inside it
    BROKEN-fields   three fields instead of seven
    BROKEN-nul      a NUL byte inside the body
"""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent / "tickets.csv"
N = 400
COLUMNS = ["id", "created_at", "requester", "priority", "provider", "subject", "body"]

# (subject, questions, context sentences, log kind)
TOPICS: list[tuple[str, list[str], list[str], str | None]] = [
    ("Istio support", ["Is Istio supported?", "Will your support team troubleshoot our Istio service mesh?", "Can support help us debug Istio sidecar injection?"],
     ["We are rolling out Istio 1.22 across our production clusters.", "Our sidecars stopped getting injected after the last upgrade."], "istio"),
    ("Helm release stuck", ["Is Helm supported?", "Can you help us get a stuck Helm release unstuck?", "Does support cover Helm chart deployments?"],
     ["A helm upgrade failed halfway and the release is stuck in pending-upgrade.", "We deploy everything with Helm 3 charts from our internal repo."], "helm"),
    ("Envoy proxy", ["Do you support Envoy as an edge proxy?", "Is Envoy something your engineers will look at with us?"],
     ["We run Envoy as our edge proxy in front of the ingress.", "Envoy keeps returning 503 upstream connect errors."], "generic"),
    ("Linkerd mesh", ["Is Linkerd supported on the managed service?", "Will support troubleshoot Linkerd proxy failures?"],
     ["We installed Linkerd 2.14 last week.", "About a third of the meshed pods fail readiness since then."], "generic"),
    ("Argo CD sync failures", ["Does your support cover Argo CD?", "Can support investigate why Argo CD stopped syncing?"],
     ["Argo CD shows every application as OutOfSync.", "We use Argo CD for GitOps deployments."], "generic"),
    ("Prometheus stack", ["Is the kube-prometheus-stack something you support?", "Will you help us tune Prometheus memory usage?"],
     ["Our Prometheus server is OOMKilled every few hours.", "We run kube-prometheus-stack for monitoring."], "oom"),
    ("Kured reboots", ["Is Kured supported for rebooting nodes?", "Can support help configure Kured?"],
     ["We want Kured to reboot nodes after the weekly OS patches.", "Kured is not draining nodes before rebooting."], None),
    ("Security scanner crashing", ["Can support look into our container security scanning tool?", "Is third-party security scanning software covered by support?"],
     ["Our Twistlock defender DaemonSet is crashlooping on every node.", "Our compliance team requires the scanner to run on all nodes."], "crashloop"),
    ("Firewall appliance", ["Do you support our third-party firewall appliance in front of the cluster?", "Is a closed-source network appliance covered?"],
     ["We route egress through a virtual firewall appliance from another vendor."], None),
    ("SSH to worker nodes", ["Can I ssh into my worker nodes?", "Are we allowed to sign in to the worker nodes to debug?", "Is it supported to log in to a node and install packages?"],
     ["We need to debug a kernel issue directly on a node.", "One of our engineers wants to install a debugging package on the nodes."], None),
    ("Node reboot after patching", ["Who reboots the worker nodes to apply OS patches?", "Do you reboot our nodes automatically after security patches?", "Is rebooting nodes after OS updates our responsibility?"],
     ["A kernel security patch was delivered to our nodes last night.", "The nodes show a pending reboot after the OS update."], None),
    ("Worker node OS patching", ["Are OS patches applied to the worker nodes automatically?", "Who patches the operating system of the worker nodes?"],
     ["Our auditors ask who patches the node operating system.", "We found outdated OS packages on several nodes."], None),
    ("Custom base OS image", ["Can we change the base OS image of the worker nodes?", "Is a custom node image supported?"],
     ["Our security team wants a hardened base image on every node."], None),
    ("Custom kernel modules", ["Are custom kernel modules supported on the nodes?", "Can we load our own kernel module on worker nodes?"],
     ["Our storage agent needs a custom kernel module."], None),
    ("Unhealthy worker node", ["Who troubleshoots an unhealthy worker node?", "Is fixing a NotReady node something you take care of?", "Do we have to replace unhealthy worker nodes ourselves?"],
     ["One node has been NotReady since last night.", "The kubelet stopped posting node status."], "nodes"),
    ("Kubelet keeps dying", ["Does the service repair the kubelet automatically?", "Is the kubelet on worker nodes remediated by you when it fails?"],
     ["The kubelet on two nodes crashed with PLEG errors."], "klog"),
    ("Control plane upgrade", ["Who starts the Kubernetes control plane upgrade?", "Do you upgrade the control plane for us?", "Is the control plane upgrade our job or yours?"],
     ["Our cluster is two minor versions behind.", "We want to move to the next Kubernetes minor version."], None),
    ("Kubernetes upgrades", ["Who is responsible for executing Kubernetes upgrades?", "Do we have to run the cluster upgrades ourselves?"],
     ["A new Kubernetes patch version was released last week."], None),
    ("API server unreachable", ["Is API server connectivity covered by support?", "Can support investigate API server timeouts?", "Who is responsible for API server availability?"],
     ["kubectl commands time out against the API server since this morning.", "The API server returned 503 for twenty minutes."], "apiserver"),
    ("etcd backups", ["Are etcd backups taken automatically?", "Can we access the etcd backups of our cluster?", "Who backs up etcd?"],
     ["We are writing our disaster recovery plan.", "Our auditors ask how the cluster state is backed up."], None),
    ("Application backups", ["Who is responsible for backing up our application data?", "Do you back up the data in our persistent volumes?"],
     ["We store customer uploads in persistent volumes.", "Our database runs as a StatefulSet."], None),
    ("Disaster recovery", ["Who restores the cluster after a disaster?", "If the region fails, do you restore our cluster?"],
     ["We are preparing for the yearly disaster recovery test."], None),
    ("DNS resolution failures", ["Is DNS resolution inside the cluster covered by support?", "Can you help with CoreDNS timeouts?"],
     ["Pods intermittently fail to resolve service names.", "We see i/o timeouts from CoreDNS in the logs."], "dns"),
    ("kube-proxy", ["Are kube-proxy issues covered?", "Can we modify the kube-proxy configuration?"],
     ["Service traffic is dropped on two nodes.", "We want to switch kube-proxy to IPVS mode."], None),
    ("Load balancer not provisioning", ["Is a load balancer that never gets an IP covered by support?", "Can support look at our service of type LoadBalancer stuck in pending?"],
     ["The external IP of our service stays pending.", "The cloud load balancer was never created."], "pending"),
    ("Volume attach failure", ["Is a block volume that fails to attach covered?", "Can you help with a persistent volume stuck attaching?"],
     ["Our pod has been in ContainerCreating for 25 minutes.", "The volume never attaches to the node."], "attach"),
    ("Network security groups", ["Do you support issues with network security group rules?", "Is an NSG that fails to update covered?"],
     ["Our NSG rules did not update after scaling the cluster."], None),
    ("Blocking outbound 443", ["Can we block outbound port 443 from the cluster?", "Is it supported to lock down all egress traffic?"],
     ["Security wants all egress blocked except our proxy."], None),
    ("Ingress controller", ["Can you help us create a custom ingress controller?", "Who is responsible for setting up ingress controllers?"],
     ["We want to write our own ingress controller for a legacy protocol."], None),
    ("Network policies", ["Who sets up network policies for our applications?", "Is configuring network policies your responsibility?"],
     ["We need to isolate namespaces from each other."], None),
    ("Cluster networking setup", ["Who sets up the VCN, subnets and gateways for the cluster?", "Is cluster networking our responsibility?"],
     ["We are creating a new cluster in a fresh tenancy."], None),
    ("How to write manifests", ["How do I write a deployment manifest for a Spring Boot app?", "Can you advise how to structure our application for Kubernetes?"],
     ["We are new to Kubernetes.", "Our team is migrating a monolith."], None),
    ("Unsupported Kubernetes version", ["Will you support a cluster on a Kubernetes version that is no longer supported?", "Do you help with clusters running an old, unsupported version?"],
     ["We are still on Kubernetes 1.24.", "Our upgrade is scheduled for next quarter."], None),
    ("Alpha features", ["Are Kubernetes alpha features supported?", "Can we enable an alpha feature gate in production?"],
     ["We want to try an alpha feature gate."], None),
    ("Preview feature in production", ["What support do we get for a preview feature?", "Are preview features supported in production?"],
     ["We registered a preview feature on our subscription."], None),
    ("Upstream bug", ["Do you fix upstream Kubernetes bugs?", "Is an upstream Kubernetes bug covered by support?"],
     ["We hit a known upstream bug in the scheduler."], "stack"),
    ("Multi-cloud federation", ["Do you support a federated multi-cloud setup?", "Are multicloud build-outs covered?"],
     ["We run clusters with two cloud vendors and federate them."], None),
    ("Monitoring worker nodes", ["Who monitors the health of our worker nodes?", "Is node health monitoring your job?"],
     ["Nobody noticed a node was down for six hours."], None),
    ("Application performance", ["Who is responsible for our application's performance?", "Can support investigate slow responses from our app?"],
     ["Our checkout service got slow after the last release."], "stack"),
    ("Container logs", ["Who sets up container logs and metrics?", "Do you manage our application logs?"],
     ["We cannot find the logs of crashed pods."], None),
    ("Cluster autoscaler", ["Do you provide the cluster autoscaler?", "Is scaling worker nodes automatically supported?"],
     ["Our node pool does not grow under load."], None),
    ("Capacity planning", ["Who adjusts compute capacity for our workloads?", "Is sizing the node pools our responsibility?"],
     ["We expect three times the traffic next month."], None),
    ("Control plane management", ["Who operates and maintains the control plane components?", "Is the managed control plane monitored by you?"],
     ["We are documenting the shared responsibility model for our auditors."], None),
    ("Security patch of control plane", ["Who patches a security vulnerability in the control plane?", "If a CVE hits the control plane, do you patch it?"],
     ["A new CVE was published for kube-apiserver."], None),
    ("Data plane CVE", ["A CVE was found in a data plane component. Who updates our nodes with the patched image?", "Who applies the patched image to the data plane?"],
     ["The CVE affects the container runtime on the nodes."], None),
    ("Service quota", ["Can support raise our limits for load balancers and block volumes?", "Are quota increases for compute handled by support?"],
     ["We hit the limit on block volumes."], None),
]

OFF_TOPIC: list[tuple[str, str]] = [
    ("Invoice question", "Hi, our invoice for last month shows two charges for the same subscription. Can you send a corrected invoice to accounts@example.org?"),
    ("Pricing", "How much would a 3 node cluster with 8 vCPU and 32GB nodes cost per month? Just need a ballpark for next year's budget."),
    ("Training", "Do you offer Kubernetes training courses or certifications for our team?"),
    ("Region availability", "Which regions is the managed Kubernetes service available in? We need a region in South America."),
    ("Password reset", "I can't log in to the portal, the password reset mail never arrives. Can you reset it?"),
    ("Out of office", "I am out of the office until Monday with limited access to email. For urgent matters contact the on-call engineer."),
    ("Thank you", "Thanks a lot for the quick help yesterday, everything works now. You can close this ticket."),
    ("Sales demo", "We'd like a demo of your enterprise plan for our CTO next week. Who should we talk to?"),
    ("SLA figure", "What's the uptime SLA on the managed control plane? 99.9 or 99.95? Need it for a customer contract."),
    ("Data processing agreement", "Please send us your data processing agreement and the list of sub-processors for our GDPR records."),
    ("Conference", "Will your team be at KubeCon this year? We'd love to meet."),
    ("Newsletter", "Please unsubscribe me from the product newsletter."),
]

VENDOR_MENTIONS = {
    "aks": ["on AKS", "on our AKS cluster", "in Azure", "on Azure Kubernetes Service"],
    "oke": ["on OKE", "on our OKE cluster", "in Oracle Cloud", "on OCI"],
}
PROVIDER_COLUMN = {"aks": ["aks", "AKS", "Azure"], "oke": ["oke", "OKE", "Oracle Cloud"]}

GREETINGS = ["Hi team,", "Hello,", "Hi support,", "Good morning,", "Dear support team,", "hey", ""]
CLOSINGS = ["Thanks,", "Best regards,", "Kind regards,", "Cheers,", "Thank you,", "thx", ""]
NAMES = ["Priya Raman", "Jonas Becker", "Maria Gonzalez", "Wei Chen", "Tom O'Brien", "Aisha Khan", "Lukas Novak", "Sofia Rossi"]
COMPANIES = ["Tallis Freight GmbH", "Northbank Retail", "Quillstone Health", "Ardent Games", "Bluefin Logistics", "Copperleaf Energy"]
URGENCY = ["This is blocking our release.", "Not urgent, just want to plan ahead.", "Production is affected.", "We need an answer before our audit on Friday.", ""]
DISCLAIMER = ("CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and may be privileged. "
              "If you are not the intended recipient, please notify the sender and delete this message.")


def log_block(kind: str, rnd: random.Random) -> str:
    ts = f"2026-03-{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}Z"
    node = f"aks-nodepool1-{rnd.randint(10000000, 99999999)}-vmss0000{rnd.randint(0, 9)}"
    if kind == "nodes":
        return ("$ kubectl get nodes\nNAME                                STATUS     ROLES   AGE   VERSION\n"
                f"{node}   Ready      agent   41d   v1.29.4\n{node[:-1]}7   NotReady   agent   41d   v1.29.4\n")
    if kind == "klog":
        return "\n".join(f"E0312 {rnd.randint(10, 23)}:{rnd.randint(10, 59)}:{rnd.randint(10, 59)}.{rnd.randint(100000, 999999)}    {rnd.randint(1000, 9999)} kubelet.go:2{rnd.randint(100, 999)}] \"Skipping pod synchronization\" err=\"PLEG is not healthy: pleg was last seen active 3m{rnd.randint(1, 59)}s ago\"" for _ in range(rnd.randint(3, 8)))
    if kind == "crashloop":
        return ("NAME                          READY   STATUS             RESTARTS   AGE\n"
                + "\n".join(f"defender-ds-{rnd.randint(1000, 9999):x}   0/1     CrashLoopBackOff   {rnd.randint(5, 40)}         47m" for _ in range(3))
                + "\nlogs: Failed to connect to console: x509: certificate signed by unknown authority")
    if kind == "istio":
        return "\n".join(f"{ts} warn envoy config StreamAggregatedResources gRPC config stream closed: 14, connection error: desc = \"transport: Error while dialing dial tcp 10.0.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}:15012: i/o timeout\"" for _ in range(rnd.randint(2, 6)))
    if kind == "helm":
        return "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n$ helm history web -n shop\nREVISION  UPDATED                   STATUS          CHART        DESCRIPTION\n41        Fri Mar  6 17:02:11 2026  deployed        web-3.4.1    Upgrade complete\n42        Mon Mar  9 09:14:52 2026  pending-upgrade web-3.5.0    Preparing upgrade"
    if kind == "oom":
        return "Last State:     Terminated\n  Reason:       OOMKilled\n  Exit Code:    137\n  Started:      Tue, 10 Mar 2026 04:12:09 +0000\n  Finished:     Tue, 10 Mar 2026 07:55:41 +0000"
    if kind == "apiserver":
        return "\n".join(f"{ts} Unable to connect to the server: net/http: TLS handshake timeout" for _ in range(rnd.randint(2, 5))) + "\n{\n  \"kind\": \"Status\",\n  \"status\": \"Failure\",\n  \"reason\": \"ServiceUnavailable\",\n  \"code\": 503\n}"
    if kind == "dns":
        return "\n".join(f"[ERROR] plugin/errors: 2 web.shop.svc.cluster.local. A: read udp 10.244.{rnd.randint(0, 9)}.{rnd.randint(2, 250)}:{rnd.randint(30000, 60000)}->168.63.129.16:53: i/o timeout" for _ in range(rnd.randint(3, 7)))
    if kind == "pending":
        return "$ kubectl get svc -n shop\nNAME      TYPE           CLUSTER-IP     EXTERNAL-IP   PORT(S)        AGE\nweb-lb    LoadBalancer   10.0.143.212   <pending>     80:31380/TCP   2h"
    if kind == "attach":
        return ("Events:\n  Type     Reason              Age                 From                     Message\n"
                "  Warning  FailedAttachVolume  3m (x12 over 25m)   attachdetach-controller  AttachVolume.Attach failed for volume \"pvc-3f2a9c1e\" : rpc error: code = DeadlineExceeded desc = context deadline exceeded")
    if kind == "stack":
        frames = [f"    at com.example.shop.{c}.{m}({c}.java:{rnd.randint(20, 400)})" for c, m in (("OrderService", "checkout"), ("PaymentClient", "charge"), ("HttpPool", "acquire"), ("Retry", "run"))]
        return "java.util.concurrent.TimeoutException: request timed out after 30000ms\n" + "\n".join(frames * rnd.randint(1, 3))
    return f"{ts} level=error msg=\"upstream connect error or disconnect/reset before headers\" status=503 retries={rnd.randint(1, 5)}"


def quoted_reply(rnd: random.Random) -> str:
    who = rnd.choice(NAMES)
    return (f"On Mon, Mar {rnd.randint(1, 28)}, 2026 at 9:{rnd.randint(10, 59)} AM {who} <{who.split()[0].lower()}@example.com> wrote:\n"
            "> Could you send us the cluster id and the time the problem started?\n> We will look into it as soon as we have them.")


def ticket(i: int, rnd: random.Random) -> dict:
    created = datetime(2026, 3, 1) + timedelta(minutes=37 * i + rnd.randint(0, 30))
    who = rnd.choice(NAMES)
    row = {"id": f"T-{i:04d}", "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "requester": f"{who.split()[0].lower()}@{rnd.choice(['example.com', 'example.org', 'example.net'])}",
           "priority": rnd.choice(["low", "normal", "normal", "high", "urgent"]), "provider": "", "subject": "", "body": ""}
    if rnd.random() < 0.08:
        subject, text = rnd.choice(OFF_TOPIC)
        row["subject"] = subject
        row["body"] = "\n\n".join(x for x in (rnd.choice(GREETINGS), text, rnd.choice(CLOSINGS), who) if x)
        return row
    topic = rnd.choice(TOPICS)
    subject, questions, contexts, logs = topic
    vendor = rnd.choice(["aks", "oke", None, None])
    mention = rnd.random() < 0.5
    if vendor and rnd.random() < 0.45:
        row["provider"] = rnd.choice(PROVIDER_COLUMN[vendor])
        mention = mention and rnd.random() < 0.3
    q = rnd.choice(questions)
    if vendor and mention:
        q = q[:-1] + f" {rnd.choice(VENDOR_MENTIONS[vendor])}?" if q.endswith("?") else q
    style = rnd.random()
    parts: list[str] = []
    if style < 0.25:  # a one-liner
        row["subject"] = subject if rnd.random() < 0.6 else ""
        row["body"] = q if rnd.random() < 0.7 else q.lower().rstrip("?")
        if not row["subject"] and not row["body"]:
            row["body"] = q
        return row
    row["subject"] = subject + (f" ({vendor.upper()})" if vendor and mention and rnd.random() < 0.3 else "")
    if g := rnd.choice(GREETINGS):
        parts.append(g)
    parts.append(" ".join(rnd.sample(contexts, k=min(len(contexts), rnd.randint(1, 2)))))
    if logs and rnd.random() < 0.7:
        # now and then a long paste: the same kind of output over and over
        parts.append("\n".join(log_block(logs, rnd) for _ in range(rnd.randint(8, 30) if rnd.random() < 0.2 else 1)))
    parts.append(q + (" " + rnd.choice(URGENCY) if rnd.random() < 0.5 else ""))
    if rnd.random() < 0.2:  # a second, different question
        other = rnd.choice([t for t in TOPICS if t is not topic])
        parts.append(rnd.choice(["Also: ", "One more thing. ", "And a second question: "]) + rnd.choice(other[1]))
    if rnd.random() < 0.5:
        parts.append(rnd.choice(CLOSINGS))
        parts.append(f"{who}\nPlatform Engineering | {rnd.choice(COMPANIES)}")
    if rnd.random() < 0.15:
        parts.append(quoted_reply(rnd))
    if rnd.random() < 0.1:
        parts.append(DISCLAIMER)
    row["body"] = "\n\n".join(p for p in parts if p)
    return row


BROKEN = {
    60: b",2026-03-03T10:00:00Z,ops@example.com,normal,,Upgrade question,Who starts the control plane upgrade?\r\n",
    130: b"BROKEN-empty,2026-03-05T11:00:00Z,ops@example.com,low,,,\r\n",
    190: b"BROKEN-bytes,2026-03-07T09:30:00Z,ren\xe9@example.com,normal,,Caf\xe9 cluster,Is Helm supported on our caf\xe9 cluster?\r\n",
    250: b'BROKEN-quote,2026-03-09T14:00:00Z,ops@example.com,high,,"Istio "sidecar" question",Is Istio supported?\r\n',
    310: b"BROKEN-fields,2026-03-11T08:00:00Z,only three fields\r\n",
    370: b"BROKEN-nul,2026-03-13T16:45:00Z,ops@example.com,normal,,Node reboot,Who reboots the nodes\x00 after patching?\r\n",
}


def main() -> None:
    rnd = random.Random(20260301)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    out = bytearray(buf.getvalue().encode("utf-8"))
    for i in range(1, N + 1):
        if i in BROKEN:
            out += BROKEN[i]
        buf = io.StringIO()
        t = ticket(i, rnd)
        csv.writer(buf, lineterminator="\r\n").writerow([t[c] for c in COLUMNS])
        out += buf.getvalue().encode("utf-8")
    OUT.write_bytes(bytes(out))
    print(f"wrote {N} tickets + {len(BROKEN)} broken rows to {OUT}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""gen-api-doc.py: write docs/API.md from the code, so that it cannot drift.

Usage: scripts/gen-api-doc.py [--check]

Reads
  src/compute/compute_routes.c   the route table: method, path, api-version family, operation
  src/arm/arm_apiver.c           the api-versions of each family
  src/arm/arm_errors.def         the error registry: HTTP status, ARM code, message
  src/compute/*.c, src/arm/*.c   the handlers: the success statuses they reply with and the
                                 errors they (or the functions they reach) can answer
and fills docs/API.md.in (the prose: conventions, differences from Azure) at its @MARKERS@.
Errors and statuses are found by reading the handler's body and, transitively, the bodies of
the functions of those files it names: an over-estimate where a helper has cases a given
operation never meets, never an omission of a code the handler's own path can send. Errors
every ARM request can get from the pipeline (auth, api-version, body) are listed once.

--check exits 1 (with a diff) when docs/API.md is not what the code says: a ctest runs it.
"""

import difflib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "API.md")
TEMPLATE = OUT + ".in"

# Success statuses the code computes at run time (not a literal in a reply call).
STATUS_NOTES = {
    "Operations_Get": "200 status resource; with `monitor=true` (the Location URL): 202 while "
                      "running, then the operation's own final status and body",
    "OperationResults_Get": "202 while running, then 200 (or the operation's error)",
    "Peer_Manifest": "200 manifest envelope, signed with the pair key (docs/PEER-PROTOCOL.md)",
    "Peer_Chunks": "200 chunk stream, signed with the pair key (docs/PEER-PROTOCOL.md)",
    "Peer_Source": "200 JSON answer, signed with the pair key (docs/PEER-PROTOCOL.md)",
}
# api-versions of routes outside the family tables (their handler checks them).
API_NOTES = {
    "Operations_Get": None,  # filled below: depends on the path
    "OperationResults_Get": "`resources` or `subscriptions`",
}
# The name of a path parameter, from the segment before it.
PARAM_NAMES = {"subscriptions": "subscriptionId", "resourceGroups": "resourceGroupName",
               "resourcegroups": "resourceGroupName", "disks": "diskName",
               "virtualMachines": "vmName", "restorePointCollections": "collectionName",
               "restorePoints": "restorePointName", "diskRestorePoints": "diskRestorePointName",
               "locations": "location", "operations": "operationId",
               "operationresults": "operationId", "regions": "region", "data": "region",
               "drps": "uuid", "source": "op", "deployments": "deploymentName",
               "operationStatuses": "operationId"}
# What starts each kind of job (src/compute/compute_routes.c, rp_compute_job_kinds).
JOB_STARTERS = {
    "disk.delete": "Disks_Delete",
    "disk.copy": "Disks_CreateOrUpdate with createOption Copy",
    "vm.delete": "VirtualMachines_Delete",
    "group.delete": "ResourceGroups_Delete",
    "rp.capture": "RestorePoints_Create of a VM's collection (the capture)",
    "rp.delete": "RestorePoints_Delete",
    "rpc.delete": "RestorePointCollections_Delete",
    "disk.restore": "Disks_CreateOrUpdate with createOption Restore (and VM data disks with "
                    "createOption Restore)",
    "region.gc": "Admin_GC, and the deletes (garbage collection afterwards)",
    "rp.copy": "RestorePoints_Create with sourceRestorePoint (starts one drp.replicate per disk)",
    "drp.replicate": "the copy of one disk restore point into this region",
    "rp.pull": "RestorePoints_Create in a collection whose source VM is in another region (waits "
               "for the source's capture, then starts one drp.replicate per disk)",
    "hold.release": "Peer_Source hold.release: the source region frees a capture it held for "
                    "another region",
}
# Route flags and families as the table spells them.
FAMILIES = {"RES": "RESOURCES", "SUBS": "SUBSCRIPTIONS", "CMP": "COMPUTE", "DSK": "DISK",
            "NOV": None}
FAMILY_TITLES = {"RESOURCES": "Microsoft.Resources (resource groups)",
                 "SUBSCRIPTIONS": "subscriptions and locations",
                 "COMPUTE": "Microsoft.Compute (ComputeRP)",
                 "DISK": "Microsoft.Compute (DiskRP)"}
# Errors the ARM pipeline answers before any handler runs (src/arm/arm.c).
PIPELINE_FUNCS = ("check_auth", "check_api_version", "on_headers", "on_body", "on_complete")


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def strip_comments(s):
    return re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), s, flags=re.S)


# ---------------------------------------------------------------- the tables

def parse_errors():
    errs = {}
    for m in re.finditer(r'^RP_EC\((\w+), (\d+), (\d+), "([^"]+)", "((?:[^"\\]|\\.)*)"\)',
                         read("src/arm/arm_errors.def"), re.M):
        errs[m.group(1)] = {"n": int(m.group(2)), "status": int(m.group(3)),
                            "code": m.group(4), "message": m.group(5)}
    return errs


def parse_apiversions():
    s = read("src/arm/arm_apiver.c")
    fams = {}
    for m in re.finditer(r"#define APIVER_(\w+)\(X\)((?:\s*\\\s*X\(\"[0-9a-z-]+\"\))+)", s):
        fams[m.group(1)] = re.findall(r'X\("([^"]+)"\)', m.group(2))
    return fams


def parse_routes():
    s = strip_comments(read("src/compute/compute_routes.c"))
    macros = {}
    for m in re.finditer(r'^#define (\w+) ((?:\w+ )?"[^"]*"(?: \w+)*)$', s, re.M):
        macros[m.group(1)] = m.group(2)

    def expand(expr):
        out = ""
        for tok in re.findall(r'"[^"]*"|\w+', expr):
            out += tok[1:-1] if tok.startswith('"') else expand(macros[tok])
        return out

    table = s[s.index("rp_compute_routes[] = {"):s.index("};", s.index("rp_compute_routes[] = {"))]
    routes = []
    for m in re.finditer(r'\{\s*"(\w+)",\s*([^,]+?),\s*(\w+),\s*([^,]+?),\s*(\w+),\s*"(\w+)"\s*\}',
                         table):
        method, pattern, fam, flags, handler, name = m.groups()
        segs = expand(pattern).split("/")
        for i, seg in enumerate(segs):
            if seg == "{}":
                pname = PARAM_NAMES.get(segs[i - 1], segs[i - 1] + "Name")
                if segs[i - 1] == "disks" and segs[1] == "data":
                    pname = "uuid"
                segs[i] = "{%s}" % pname
        path = "/".join(segs)
        for long, short in (("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}",
                             "{RG}"), ("/subscriptions/{subscriptionId}", "{SUB}"),
                            ("/providers/Microsoft.Compute", "{MC}")):
            path = path.replace(long, short)
        routes.append({"method": method, "path": path,
                       "family": FAMILIES[fam], "flags": flags, "handler": handler, "name": name})
    return routes


# ---------------------------------------------------------------- the handlers

def parse_functions(paths):
    """name -> body of every function defined in @paths (clang-format: '{' and '}' alone at
    column 0 open and close a function body)."""
    funcs = {}
    for p in paths:
        s = strip_comments(read(p))
        for m in re.finditer(r"^\{\n(.*?)^\}", s, re.M | re.S):
            # the signature starts on the last line at column 0 with a '(' before the '{'
            for line in reversed(s[:m.start()].splitlines()):
                if line[:1] not in ("", " ", "#", "}", "\t") and "(" in line:
                    name = re.findall(r"(\w+)\s*\(", line)[0]
                    funcs[name] = funcs.get(name, "") + m.group(1)
                    break
    return funcs


def closure(funcs, start):
    seen, todo = set(), [start]
    while todo:
        f = todo.pop()
        if f in seen or f not in funcs:
            continue
        seen.add(f)
        todo += [w for w in set(re.findall(r"\b\w+\b", funcs[f])) if w in funcs and w not in seen]
    return seen


def reply_statuses(body):
    found = set()
    for m in re.finditer(r"rp_(?:arm_reply_json|arm_reply_empty|compute_reply_resource|"
                         r"http_reply_stream)\(\s*r(?:->http)?,\s*([^,)]+)", body):
        found |= {int(x) for x in re.findall(r"\b([23]\d\d)\b", m.group(1))}
    if re.search(r"\brp_arm_reply_list\(", body):
        found.add(200)
    if re.search(r"\brp_compute_reply_access\(", body):
        found.add(202)
    return found


def handler_facts(funcs, handler, pipeline):
    reach = closure(funcs, handler)
    errors, statuses = set(), set()
    for f in reach:
        errors |= set(re.findall(r"\bRP_EC_(\w+)\b", funcs[f]))
        statuses |= reply_statuses(funcs[f])
    errors.discard("NONE")
    return statuses, errors - pipeline


# ---------------------------------------------------------------- output

def error_list(names, errs):
    by_code = {}
    for n in names:
        e = errs[n]
        by_code.setdefault((e["status"], e["code"]), e)
    return ", ".join("%d %s" % k for k in sorted(by_code))


def render():
    errs = parse_errors()
    fams = parse_apiversions()
    routes = parse_routes()
    funcs = parse_functions(["src/compute/" + f for f in sorted(os.listdir(os.path.join(ROOT, "src/compute")))
                             if f.endswith(".c")] +
                            ["src/arm/" + f for f in sorted(os.listdir(os.path.join(ROOT, "src/arm")))
                             if f.endswith(".c")])
    pipeline = set()
    for f in PIPELINE_FUNCS:
        if f not in funcs:
            sys.exit("gen-api-doc: src/arm/arm.c has no function %s any more: update "
                     "PIPELINE_FUNCS" % f)
        pipeline |= set(re.findall(r"\bRP_EC_(\w+)\b", funcs[f]))
    pipeline.discard("NONE")
    pipeline.add("INTERNAL")  # any handler may fail inside

    ops = []
    for r in routes:
        if r["handler"] not in funcs:
            sys.exit("gen-api-doc: no body for handler %s" % r["handler"])
        statuses, errors = handler_facts(funcs, r["handler"], pipeline)
        if "RP_ROUTE_STREAM" in r["flags"]:  # the body goes to the streaming hooks
            for hook in ("rp_dataplane_stream_begin", "rp_dataplane_stream_body"):
                more = handler_facts(funcs, hook, pipeline)
                statuses |= more[0]
                errors |= more[1]
        if r["name"] in STATUS_NOTES:
            ok = STATUS_NOTES[r["name"]]
        elif statuses:
            ok = ", ".join(str(s) for s in sorted(statuses))
        else:
            sys.exit("gen-api-doc: found no success status for %s: add it to STATUS_NOTES"
                     % r["name"])
        fam = r["family"]
        if fam:
            api = "`%s`" % fam.lower()
        elif r["name"] == "Operations_Get":
            api = "`compute` or `disk`" if "{MC}" in r["path"] else "`resources` or `subscriptions`"
        else:
            api = API_NOTES.get(r["name"], "none")
        auth = "SAS" if r["path"].startswith("/data") else (
            "none" if "NOAUTH" in r["flags"] else "bearer")
        ops.append("| %s | `%s %s` | %s | %s | %s | %s |" % (
            r["name"], r["method"], r["path"].replace("|", "\\|"), api, auth, ok,
            error_list(errors, errs) or "-"))

    ks = strip_comments(read("src/compute/compute_routes.c"))
    ks = ks[ks.index("rp_compute_job_kinds[] = {"):]
    job_rows = ["| job | started by | errors it can end with (in the operation's `error`) |",
                "|---|---|---|"]
    for m in re.finditer(r'\{\s*"([a-z.]+)",\s*(\w+)\s*\}', ks[:ks.index("};")]):
        kind, fn = m.groups()
        if kind not in JOB_STARTERS:
            sys.exit("gen-api-doc: job kind %s is new: add it to JOB_STARTERS" % kind)
        _, errors = handler_facts(funcs, fn, set())
        job_rows.append("| `%s` | %s | %s |" % (kind, JOB_STARTERS[kind],
                                                error_list(errors, errs) or "-"))

    op_table = "\n".join(["| operation | request | api-version | auth | success | errors "
                          "(besides the common ones) |",
                          "|---|---|---|---|---|---|"] + ops)
    api_lines = []
    for fam in ("COMPUTE", "DISK", "RESOURCES", "SUBSCRIPTIONS"):
        v = fams[fam]
        api_lines.append("- `%s`, %s: %s (%d versions; newest `%s`)" % (
            fam.lower(), FAMILY_TITLES[fam], ", ".join("`%s`" % x for x in v), len(v), v[-1]))
    err_rows = ["| # | HTTP | code | default message |", "|---|---|---|---|"]
    for name, e in sorted(errs.items(), key=lambda kv: kv[1]["n"]):
        err_rows.append("| %d | %d | `%s` | %s |" % (e["n"], e["status"], e["code"],
                                                     e["message"].replace("|", "\\|")))
    common = error_list(pipeline, errs)

    text = read("docs/API.md.in")
    for k, v in {"@OPERATIONS@": op_table, "@APIVERSIONS@": "\n".join(api_lines),
                 "@ERRORS@": "\n".join(err_rows), "@COMMON_ERRORS@": common,
                 "@JOBS@": "\n".join(job_rows),
                 "@N_OPERATIONS@": str(len(routes))}.items():
        if k not in text:
            sys.exit("gen-api-doc: docs/API.md.in lacks %s" % k)
        text = text.replace(k, v)
    return ("<!-- Generated by scripts/gen-api-doc.py from docs/API.md.in and the code; "
            "edit those, not this file. -->\n" + text)


def main():
    text = render()
    if "--check" in sys.argv[1:]:
        cur = open(OUT).read() if os.path.exists(OUT) else ""
        if cur != text:
            sys.stdout.writelines(difflib.unified_diff(cur.splitlines(True), text.splitlines(True),
                                                       "docs/API.md", "generated"))
            print("docs/API.md is stale: run scripts/gen-api-doc.py", file=sys.stderr)
            sys.exit(1)
        return
    with open(OUT + ".tmp", "w") as f:
        f.write(text)
    os.replace(OUT + ".tmp", OUT)


if __name__ == "__main__":
    main()

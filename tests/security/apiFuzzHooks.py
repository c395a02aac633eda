"""schemathesis hooks of tests/security/apiFuzz.test.ts (loaded through SCHEMATHESIS_HOOKS).

JSON Schema cannot say that items of a list differ in one of their fields, nor that a request
header differs between requests. The API's document says these rules in words, the server
checks them, and here the generated requests are made to keep them, so that a schema-valid
request the server refuses is a finding and not the fuzzer repeating itself:

- an Idempotency-Key names one request: the same key with another body is refused (422, as the
  IETF Idempotency-Key draft says), and generated keys repeat ("0", "00") across bodies;
- container names are unique in a job, and each host port is published once in all of it;
- usernames are unique in a users CSV (case aside).

Only the values that break such a rule change; everything else goes out as generated.
"""

import re
import uuid

import schemathesis

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
CONTAINER_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
PORT_MAPPING = re.compile(r"^(\d{1,5}):(\d{1,5})(?:/(tcp|udp))?$")
CSV_HEADER = "username,email,role,display_name\n"
MAX_PUBLISHED_PORTS = 50


def _unique_idempotency_key(headers):
    for name in list(headers or {}):
        value = headers[name]
        if name.lower() == "idempotency-key" and isinstance(value, str) and IDEMPOTENCY_KEY.match(value):
            headers[name] = f"{value[:200]}-{uuid.uuid4().hex}"


def _unique_name(name, taken):
    for n in range(1, 1000):
        candidate = f"{name[:55]}-{n}"
        if candidate not in taken:
            return candidate
    return name


def _distinct_containers(containers):
    names = set()
    host_ports = set()
    for container in containers:
        if not isinstance(container, dict):
            continue
        name = container.get("name")
        if isinstance(name, str) and CONTAINER_NAME.match(name):
            if name in names:
                name = container["name"] = _unique_name(name, names)
            names.add(name)
        ports = container.get("ports")
        if not isinstance(ports, list):
            continue
        kept = []
        for port in ports:
            match = PORT_MAPPING.match(port) if isinstance(port, str) else None
            if match:
                key = (int(match.group(1)), match.group(3) or "tcp")
                if key in host_ports or len(host_ports) >= MAX_PUBLISHED_PORTS:
                    continue
                host_ports.add(key)
            kept.append(port)
        container["ports"] = kept


def _distinct_usernames(csv):
    if not csv.startswith(CSV_HEADER):
        return csv
    lines = csv[len(CSV_HEADER) :].split("\n")
    taken = set()
    for i, line in enumerate(lines):
        username, sep, rest = line.partition(",")
        if not sep:
            continue
        if username.lower() in taken:
            username = next(f"u{n}" for n in range(1, 100000) if f"u{n}" not in taken)
            lines[i] = f"{username},{rest}"
        taken.add(username.lower())
    return CSV_HEADER + "\n".join(lines)


def _distinct_spec_parts(spec):
    if not isinstance(spec, dict):
        return
    if isinstance(spec.get("containers"), list):
        _distinct_containers(spec["containers"])
    if isinstance(spec.get("usersCsv"), str):
        spec["usersCsv"] = _distinct_usernames(spec["usersCsv"])


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    _unique_idempotency_key(case.headers)
    body = case.body
    if isinstance(body, dict):
        # A job spec or a change, as JSON; or the multipart form, whose spec part is one.
        _distinct_spec_parts(body)
        _distinct_spec_parts(body.get("spec"))

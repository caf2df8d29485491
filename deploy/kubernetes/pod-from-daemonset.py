#!/usr/bin/python3
"""pod-from-daemonset.py — turns Kubernetes YAML that `podman kube play`
cannot play (podman 4.3 plays Pods and Deployments, not DaemonSets) into
YAML it can: each DaemonSet becomes a Pod with the DaemonSet's pod template
(its labels, annotations and spec, named after the DaemonSet); every other
document (ConfigMaps, Pods) passes through.

It also fills three gaps of podman 4.3's `kube play`, in every Pod:
  - the downward API's status.hostIP (an env var's fieldRef) is not
    supported: such a variable gets the value of --host-ip instead;
  - $(VAR) in a container's command and args is not expanded from its env
    (Kubernetes does; $$ is a literal $): expanded here from the literal
    env values;
  - `ports` on a host-network pod are refused ("PortMappings can only be
    used with Bridge or slirp4netns networking"); on Kubernetes they only
    document the node ports the pod uses there: dropped.

    deploy/kubernetes/pod-from-daemonset.py deploy/kubernetes/daemonset.yaml > node-pod.yaml
    podman kube play node-pod.yaml

Options for running a recipe beside others on one machine (the tests):
  --name-prefix P        prefixes every object's name, and every volume's
                         name (podman names its volumes after them) with P
  --host-path OLD=NEW    rewrites hostPath OLD to NEW (repeatable)
  --replace OLD=NEW      replaces text in ConfigMap data (repeatable)
  --host-ip IP           the value for status.hostIP (default 127.0.0.1)

Needs python3-yaml (Debian).
"""
import argparse
import re
import sys

import yaml


def pod_from_daemonset(ds):
    template = ds["spec"]["template"]
    meta = dict(template.get("metadata") or {})
    meta["name"] = ds["metadata"]["name"]
    for key in ("namespace",):
        if key in ds["metadata"]:
            meta[key] = ds["metadata"][key]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}


def rename(doc, prefix):
    """Prefixes the object's name, its volumes' names and the ConfigMaps
    they refer to."""
    doc["metadata"]["name"] = prefix + doc["metadata"]["name"]
    if doc["kind"] != "Pod":
        return
    spec = doc["spec"]
    for vol in spec.get("volumes") or []:
        vol["name"] = prefix + vol["name"]
        if "configMap" in vol:
            vol["configMap"]["name"] = prefix + vol["configMap"]["name"]
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for m in c.get("volumeMounts") or []:
            m["name"] = prefix + m["name"]


def rewrite_host_paths(doc, mapping):
    if doc["kind"] != "Pod":
        return
    for vol in doc["spec"].get("volumes") or []:
        hp = vol.get("hostPath")
        if hp and hp.get("path") in mapping:
            hp["path"] = mapping[hp["path"]]


def replace_in_config(doc, pairs):
    if doc["kind"] != "ConfigMap":
        return
    for key, text in (doc.get("data") or {}).items():
        for old, new in pairs:
            text = text.replace(old, new)
        doc["data"][key] = text


def _expand(text, env):
    """Kubernetes' $(VAR) expansion: known names replaced, $$ a literal $,
    unknown references left as they are."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
                  text)


def podman_gaps(doc, host_ip):
    """status.hostIP as a literal, $(VAR) expanded, no ports on host network."""
    if doc["kind"] != "Pod":
        return
    spec = doc["spec"]
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        env = {}
        for var in c.get("env") or []:
            ref = (var.get("valueFrom") or {}).get("fieldRef") or {}
            if ref.get("fieldPath") == "status.hostIP":
                var.pop("valueFrom")
                var["value"] = host_ip
            if "value" in var:
                env[var["name"]] = _expand(str(var["value"]), env)
        for key in ("command", "args"):
            if c.get(key):
                c[key] = [_expand(str(a), env) for a in c[key]]
        if spec.get("hostNetwork"):
            c.pop("ports", None)


def _block_strings(dumper, text):
    """Multi-line strings (a ConfigMap's files) as YAML literal blocks."""
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def pair(text):
    old, sep, new = text.partition("=")
    if not sep or not old:
        raise argparse.ArgumentTypeError("expected OLD=NEW, got %r" % text)
    return old, new


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("yaml", help="Kubernetes YAML (several documents allowed); - for stdin")
    ap.add_argument("--name-prefix", default="")
    ap.add_argument("--host-path", type=pair, action="append", default=[])
    ap.add_argument("--replace", type=pair, action="append", default=[])
    ap.add_argument("--host-ip", default="127.0.0.1")
    args = ap.parse_args()
    src = sys.stdin if args.yaml == "-" else open(args.yaml)
    out = []
    for doc in yaml.safe_load_all(src):
        if not doc:
            continue
        if doc.get("kind") == "DaemonSet":
            doc = pod_from_daemonset(doc)
        if args.name_prefix:
            rename(doc, args.name_prefix)
        rewrite_host_paths(doc, dict(args.host_path))
        replace_in_config(doc, args.replace)
        podman_gaps(doc, args.host_ip)
        out.append(doc)
    yaml.SafeDumper.add_representer(str, _block_strings)
    yaml.safe_dump_all(out, sys.stdout, default_flow_style=False, sort_keys=False)


if __name__ == "__main__":
    main()

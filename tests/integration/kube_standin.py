"""A small stand-in for a Kubernetes API server with CDI and KubeVirt, for the
tests of mtvd's cluster side. No real apiserver can run here, so this keeps
to the REST semantics mtvd relies on (facts from ../shared/reference/
CLUSTER-AND-CLI.md, section 3):

* paths /api/v1/... and /apis/GROUP/VERSION/[namespaces/NS/]PLURAL[/NAME[/status]];
* bearer tokens; a token can be expired (401) and verbs can be forbidden (403);
* Status bodies for every error (NotFound, AlreadyExists, Conflict, Invalid,
  Forbidden, Unauthorized, Gone, BadRequest, UnsupportedMediaType);
* metadata.resourceVersion (a global counter), uid, creationTimestamp,
  generation that moves only on spec changes, generateName;
* the status subresource (writes to the object ignore .status, to /status
  everything else), merge patch, server-side apply (fieldManager required),
  optimistic concurrency (409 Conflict on a stale resourceVersion);
* list with labelSelector (=, ==, !=, exists), limit and continue tokens
  (410 Gone once they are older than the event history);
* watch streams: newline-delimited events, BOOKMARKs, timeoutSeconds, and
  410 Gone (as HTTP status or ERROR event) for a compacted resourceVersion.

Every object written is validated strictly (unknown fields refused, as with
field validation Strict) against the real schemas: CDI's CRDs
(reference/cdi/crds/*.yaml) and KubeVirt's OpenAPI (reference/kubevirt).

CDI and KubeVirt behaviour: a DataVolume with an upload source goes to
UploadReady; an UploadTokenRequest gets a token; the upload proxy
(POST /v1beta1/upload, the token as bearer) takes the disk stream (raw or
gzip) into a file, checks its size against the claim, and moves the
DataVolume to Succeeded; a VirtualMachine with runStrategy Always gets a
Running VirtualMachineInstance and its status.ready.
"""
import base64
import copy
import gzip
import http.server
import json
import os
import re
import socketserver
import sys
import threading
import time
import urllib.parse
import uuid
import zlib

import yaml

from openapi import REFERENCE, definitions, openapi3_schemas, validate

# (group, version, plural) -> (kind, namespaced, schema source, has status subresource)
RESOURCES = {
    ("", "v1", "namespaces"): ("Namespace", False, None, False),
    ("", "v1", "persistentvolumeclaims"): ("PersistentVolumeClaim", True, None, True),
    ("", "v1", "secrets"): ("Secret", True, None, False),
    ("export.kubevirt.io", "v1", "virtualmachineexports"): ("VirtualMachineExport", True,
                                                            "swagger:kubevirt:v1.VirtualMachineExport", True),
    ("storage.k8s.io", "v1", "storageclasses"): ("StorageClass", False, None, False),
    ("k8s.cni.cncf.io", "v1", "network-attachment-definitions"): ("NetworkAttachmentDefinition", True, None, False),
    ("cdi.kubevirt.io", "v1beta1", "datavolumes"): ("DataVolume", True, "crd:datavolumes", True),
    ("cdi.kubevirt.io", "v1beta1", "cdiconfigs"): ("CDIConfig", False, "crd:cdiconfigs", True),
    ("cdi.kubevirt.io", "v1beta1", "cdis"): ("CDI", False, "crd:cdis", True),
    ("upload.cdi.kubevirt.io", "v1beta1", "uploadtokenrequests"): ("UploadTokenRequest", True,
                                                                   "swagger:cdi:v1beta1.UploadTokenRequest", False),
    ("kubevirt.io", "v1", "virtualmachines"): ("VirtualMachine", True, "swagger:kubevirt:v1.VirtualMachine", True),
    ("kubevirt.io", "v1", "virtualmachineinstances"): ("VirtualMachineInstance", True,
                                                       "swagger:kubevirt:v1.VirtualMachineInstance", True),
    ("kubevirt.io", "v1", "kubevirts"): ("KubeVirt", True, "swagger:kubevirt:v1.KubeVirt", True),
    ("kubevirt.io", "v1", "virtualmachineinstancemigrations"): ("VirtualMachineInstanceMigration", True,
                                                                "swagger:kubevirt:v1.VirtualMachineInstanceMigration",
                                                                True),
    ("batch", "v1", "jobs"): ("Job", True, "openapi3:kubernetes/batch-v1-openapi.json:io.k8s.api.batch.v1.Job", True),
    ("", "v1", "configmaps"): ("ConfigMap", True, "configmap", False),
}

# A ConfigMap's data keys and its size limit (Kubernetes' validation).
CONFIG_MAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
CONFIG_MAP_LIMIT = 1 << 20

_crd_cache = {}


def crd_schema(plural):
    if plural not in _crd_cache:
        with open(os.path.join(REFERENCE, "cdi", "crds", plural + ".yaml")) as f:
            crd = yaml.safe_load(f)
        _crd_cache[plural] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return _crd_cache[plural]


def validate_structural(value, schema, path="$", errors=None):
    """A CRD's structural schema, strictly: unknown fields are errors unless
    x-kubernetes-preserve-unknown-fields says otherwise."""
    errors = [] if errors is None else errors
    if value is None:
        if not schema.get("nullable"):
            errors.append(f"{path}: null is not allowed")
        return errors
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            errors.append(f"{path}: expected an integer or a string")
        return errors
    typ = schema.get("type")
    checks = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict}
    if typ in checks:
        ok = isinstance(value, checks[typ]) and not (typ in ("integer", "number") and isinstance(value, bool))
        if not ok:
            errors.append(f"{path}: expected {typ}, got {type(value).__name__}")
            return errors
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if typ == "array" and "items" in schema:
        for i, item in enumerate(value):
            validate_structural(item, schema["items"], f"{path}[{i}]", errors)
    if typ == "object":
        props = schema.get("properties")
        for req in schema.get("required", []):
            if req not in value:
                errors.append(f"{path}.{req}: required")
        for k, v in value.items():
            if props and k in props:
                validate_structural(v, props[k], f"{path}.{k}", errors)
            elif isinstance(schema.get("additionalProperties"), dict):
                validate_structural(v, schema["additionalProperties"], f"{path}.{k}", errors)
            elif props is not None and not schema.get("x-kubernetes-preserve-unknown-fields") and path != "$.metadata":
                errors.append(f"{path}.{k}: unknown field")
    return errors


def status_body(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.body = code, status_body(code, reason, message, details)


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def selector_matches(selector, labels):
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.split("==", 1) if "==" in term else term.split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class Cluster:
    """The state: objects, the event history, tokens and permissions."""

    def __init__(self, upload_dir):
        self.lock = threading.Condition()
        self.rv = 1000
        self.objects = {}          # (g, v, plural, ns, name) -> object
        self.events = []           # (rv, (g, v, plural), ns, type, object)
        self.compacted = 0         # versions <= this are gone
        self.tokens = {"admin-token": "admin"}
        self.forbidden = set()     # (user, verb, plural)
        self.upload_dir = upload_dir
        self.upload_tokens = {}    # token -> (ns, dv name)
        self.requests = []         # (method, path) for assertions
        self.lists = {}            # plural -> how many LISTs (not watches) it had
        self.fail_uploads_after = None   # bytes: then the proxy drops the connection
        self.expire_upload_tokens = False  # the proxy answers 401 as for an expired token
        self.upload_gate = None    # a threading.Event: uploads wait for it before reading
        self.uploads_waiting = 0
        self.watch_close = threading.Event()
        self.uploads = {}          # (ns, name) -> path of the received disk
        self.volumes = {}          # (ns, claim) -> path: what an export serves for a PVC
        self.job_behaviour = {}    # hook image -> (seconds, succeeds, message)
        self.hook_runs = []        # what each hook Job ran with
        self.url = None

    # -- helpers
    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def record(self, res, ns, typ, obj):
        self.events.append((int(obj["metadata"]["resourceVersion"]), res, ns, typ, copy.deepcopy(obj)))
        self.lock.notify_all()

    def compact(self):
        """Forget the event history: older resourceVersions now answer 410."""
        with self.lock:
            self.compacted = self.rv
            self.events = []
            self.lock.notify_all()

    def validate(self, res, obj):
        kind, _, source, _ = RESOURCES[res]
        if obj.get("kind") != kind or obj.get("apiVersion") != (res[1] if not res[0] else f"{res[0]}/{res[1]}"):
            raise ApiError(400, "BadRequest", f"expected kind {kind}, apiVersion {res[0] + '/' if res[0] else ''}{res[1]}")
        if source is None:
            return
        if source.startswith("crd:"):
            errors = validate_structural(obj, crd_schema(source[4:]))
        elif source.startswith("openapi3:"):
            _, document, name = source.split(":")
            errors = validate(obj, {"$ref": f"#/components/schemas/{name}"}, openapi3_schemas(document))
            errors += self.job_rules(obj) if kind == "Job" else []
        elif source == "configmap":
            errors = self.config_map_rules(obj)
        else:
            _, project, name = source.split(":")
            errors = validate(obj, {"$ref": f"#/definitions/{name}"}, definitions(project))
        if errors:
            raise ApiError(422, "Invalid", f"{kind} \"{obj['metadata'].get('name', '')}\" is invalid: {errors[0]}",
                           {"name": obj["metadata"].get("name", ""), "kind": kind,
                            "causes": [{"reason": "FieldValueInvalid", "message": e.split(': ', 1)[-1],
                                        "field": e.split(':', 1)[0].lstrip('$.')} for e in errors]})

    @staticmethod
    def config_map_rules(obj):
        """What the apiserver checks of a ConfigMap (its schema is not in
        batch/v1's document): string data under valid keys, at most 1 MiB."""
        errors = []
        unknown = set(obj) - {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"}
        errors += [f"$: unknown field \"{k}\"" for k in sorted(unknown)]
        data = obj.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            errors.append("$.data: expected an object of strings")
        else:
            errors += [f"$.data.{k}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
                       for k in data if not CONFIG_MAP_KEY.match(k)]
            if sum(len(k) + len(v.encode()) for k, v in data.items()) > CONFIG_MAP_LIMIT:
                errors.append("$.data: Too long: must have at most 1048576 bytes")
        return errors

    @staticmethod
    def job_rules(obj):
        """The Job validation the apiserver does beyond its schema."""
        errors = []
        meta = obj.get("metadata", {})
        name = meta.get("name") or meta.get("generateName", "") + "xxxxx"
        if len(name) > 63:
            errors.append("$.metadata.name: must be no more than 63 characters (it becomes the job-name label)")
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        if pod.get("restartPolicy") not in ("Never", "OnFailure"):
            errors.append("$.spec.template.spec.restartPolicy: Unsupported value: must be Never or OnFailure")
        for i, c in enumerate(pod.get("containers", [])):
            if not c.get("image"):
                errors.append(f"$.spec.template.spec.containers[{i}].image: Required value")
        volumes = {v.get("name") for v in pod.get("volumes", [])}
        for i, c in enumerate(pod.get("containers", [])):
            for m in c.get("volumeMounts", []):
                if m.get("name") not in volumes:
                    errors.append(f"$.spec.template.spec.containers[{i}].volumeMounts: Not found: {m.get('name')!r}")
        return errors

    def job_controller(self, ns, name):
        """Kubernetes' Job controller, for what a test set: the hook's image
        runs for job_behaviour[image] = (seconds, succeeds, message) (0.3 s and
        success otherwise) and sees its ConfigMap as it was at the start;
        activeDeadlineSeconds fails it with DeadlineExceeded."""
        res = ("batch", "v1", "jobs")
        with self.lock:
            job = self.objects.get(res + (ns, name))
            if job is None:
                return
            pod = job["spec"]["template"]["spec"]
            image = pod["containers"][0]["image"]
            seconds, succeeds, message = self.job_behaviour.get(image, (0.3, True, ""))
            deadline = job["spec"].get("activeDeadlineSeconds")
            mounted = {}
            for vol in pod.get("volumes", []):
                cm = self.objects.get(("", "v1", "configmaps", ns, vol.get("configMap", {}).get("name")))
                if cm is None:
                    seconds, succeeds, message = float("inf"), False, "configmap not found"
                else:
                    mounted.update(copy.deepcopy(cm.get("data", {})))
            self.hook_runs.append({"namespace": ns, "job": name, "image": image, "files": mounted,
                                   "serviceAccountName": pod.get("serviceAccountName"),
                                   "command": pod["containers"][0].get("command")})
            started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.set_job_status(ns, name, {"active": 1, "startTime": started})
        if deadline is not None and seconds > deadline:
            time.sleep(deadline)
            status = {"failed": 1, "startTime": started, "conditions": [
                {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                 "message": "Job was active longer than specified deadline"}]}
        else:
            time.sleep(seconds)
            backoff = job["spec"].get("backoffLimit", 6)
            status = {"succeeded": 1, "startTime": started, "completionTime": started, "conditions": [
                {"type": "Complete", "status": "True"}]} if succeeds else \
                {"failed": backoff + 1, "startTime": started, "conditions": [
                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                     "message": message or "Job has reached the specified backoff limit"}]}
        with self.lock:
            self.set_job_status(ns, name, status)

    def set_job_status(self, ns, name, status):
        res = ("batch", "v1", "jobs")
        old = self.objects.get(res + (ns, name))
        if old is not None:
            new = copy.deepcopy(old)
            new["status"] = status
            self.store_update(res, ns, name, old, new, "status")

    # -- behaviour of CDI and KubeVirt
    def react(self, res, ns, obj):
        plural = res[2]
        if plural == "jobs":
            threading.Thread(target=self.job_controller, args=(ns, obj["metadata"]["name"]), daemon=True).start()
        if plural == "datavolumes" and "upload" in obj["spec"].get("source", {}) and "phase" not in obj.get("status", {}):
            obj.setdefault("status", {})
            obj["status"].update({"phase": "UploadReady", "progress": "N/A",
                                  "conditions": [{"type": "Ready", "status": "False", "reason": "UploadReady"}]})
        if plural == "datavolumes" and "http" in obj["spec"].get("source", {}) and "phase" not in obj.get("status", {}):
            obj.setdefault("status", {})
            obj["status"].update({"phase": "ImportScheduled", "progress": "N/A"})
            threading.Thread(target=self.importer, args=(ns, obj["metadata"]["name"], obj["spec"]["source"]["http"]["url"]),
                             daemon=True).start()
        if plural == "datavolumes" and "vddk" in obj["spec"].get("source", {}) and "phase" not in obj.get("status", {}):
            obj.setdefault("status", {})
            obj["status"].update({"phase": "ImportScheduled", "progress": "N/A"})
            threading.Thread(target=self.vddk_importer, args=(ns, obj["metadata"]["name"], obj["spec"]["source"]["vddk"]),
                             daemon=True).start()
        if plural == "uploadtokenrequests":
            token = base64.b64encode(os.urandom(18)).decode()
            self.upload_tokens[token] = (ns, obj["spec"]["pvcName"])
            obj["status"] = {"token": token}
        if plural == "virtualmachineexports":
            self.react_export(ns, obj)
        if plural == "virtualmachines":
            strategy = obj["spec"].get("runStrategy")
            running = strategy in ("Always", "RerunOnFailure") or obj["spec"].get("running")
            receiver = strategy == "WaitAsReceiver"
            obj.setdefault("status", {})
            obj["status"].update({"printableStatus": "Running" if running else
                                  "WaitingForReceiver" if receiver else "Stopped",
                                  "ready": bool(running), "created": bool(running or receiver)})
            if running or receiver:
                vmi = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                       "metadata": {"name": obj["metadata"]["name"], "namespace": ns,
                                    "labels": obj["spec"]["template"].get("metadata", {}).get("labels", {})},
                       "spec": obj["spec"]["template"]["spec"],
                       "status": {"phase": "WaitingForSync" if receiver else "Running",
                                  "conditions": [{"type": "LiveMigratable", "status": "True"},
                                                 {"type": "StorageLiveMigratable", "status": "True"}]}}
                self.put_object(("kubevirt.io", "v1", "virtualmachineinstances"), ns, vmi, "ADDED")
        if plural == "virtualmachineinstancemigrations":
            self.react_migration(ns, obj)

    def react_export(self, ns, export):
        """KubeVirt's export controller: Ready once the VM is stopped, with a
        token Secret and links to each of its volumes."""
        name = export["metadata"]["name"]
        vm_name = export["spec"]["source"]["name"]
        vm = self.objects.get(("kubevirt.io", "v1", "virtualmachines", ns, vm_name))
        running = ("kubevirt.io", "v1", "virtualmachineinstances", ns, vm_name) in self.objects
        status = export.setdefault("status", {})
        if vm is None or running:
            status.update({"phase": "Pending"})
            return
        secret = f"export-token-{name}"
        token = base64.b64encode(os.urandom(12)).decode()
        key = ("", "v1", "secrets", ns, secret)
        if key not in self.objects:
            self.put_object(("", "v1", "secrets"), ns, {"apiVersion": "v1", "kind": "Secret",
                                                        "metadata": {"name": secret},
                                                        "data": {"token": base64.b64encode(token.encode()).decode()}},
                            "ADDED")
        volumes = []
        for vol in vm["spec"]["template"]["spec"].get("volumes", []):
            claim = (vol.get("dataVolume") or {}).get("name") or (vol.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                base = f"{self.url}/api/export.kubevirt.io/v1/namespaces/{ns}/virtualmachineexports/{name}/volumes/{claim}"
                volumes.append({"name": claim, "formats": [{"format": "raw", "url": base + "/disk.img"},
                                                            {"format": "gzip", "url": base + "/disk.img.gz"}]})
        status.update({"phase": "Ready", "tokenSecretRef": secret, "virtualMachineName": vm_name,
                       "links": {"external": {"cert": "", "volumes": volumes}}})

    def react_migration(self, ns, vmim):
        """Decentralized live migration: the receiving side publishes a
        synchronization address; when the sender with the same migrationID
        arrives, the state moves: both Succeeded, the target VMI runs, the
        source VMI is gone."""
        spec = vmim["spec"]
        if "receive" in spec:
            vmim["status"] = {"phase": "WaitingForSync", "synchronizationAddresses": ["sync.standin.example:9185"]}
            return
        sent = spec.get("sendTo")
        if not sent:
            vmim["status"] = {"phase": "Pending"}
            return
        for k, other in list(self.objects.items()):
            if k[2] == "virtualmachineinstancemigrations" and other["spec"].get("receive", {}).get("migrationID") == \
                    sent["migrationID"]:
                if sent["connectURL"] != other["status"]["synchronizationAddresses"][0]:
                    vmim["status"] = {"phase": "Failed"}
                    return
                done = copy.deepcopy(other)
                done["status"] = {"phase": "Succeeded", "synchronizationAddresses": other["status"]["synchronizationAddresses"]}
                self.store_update(k[:3], k[3], k[4], other, done, "status")
                vmi_key = ("kubevirt.io", "v1", "virtualmachineinstances", k[3], other["spec"]["vmiName"])
                if vmi_key in self.objects:
                    vmi = copy.deepcopy(self.objects[vmi_key])
                    vmi["status"]["phase"] = "Running"
                    self.store_update(vmi_key[:3], k[3], vmi_key[4], self.objects[vmi_key], vmi, "status")
                source_vmi = ("kubevirt.io", "v1", "virtualmachineinstances", ns, spec["vmiName"])
                if source_vmi in self.objects:
                    self.delete(source_vmi[:3], ns, spec["vmiName"])
                vmim["status"] = {"phase": "Succeeded"}
                return
        vmim["status"] = {"phase": "Failed"}

    def export_volume(self, ns, export, claim, token):
        """The file an export link serves, after checking its token."""
        obj = self.get(("export.kubevirt.io", "v1", "virtualmachineexports"), ns, export)
        if obj.get("status", {}).get("phase") != "Ready":
            raise ApiError(404, "NotFound", "export not ready")
        secret = self.get(("", "v1", "secrets"), ns, obj["status"]["tokenSecretRef"])
        if token != base64.b64decode(secret["data"]["token"]).decode():
            raise ApiError(401, "Unauthorized", "invalid export token")
        path = self.volumes.get((ns, claim))
        if path is None:
            raise ApiError(404, "NotFound", f"volume {claim} not found")
        return path

    def vddk_importer(self, ns, name, vddk):
        """CDI's importer with a vddk source, reading with the vSphere SDK
        what VDDK reads: the Secret's accessKeyId and secretKey log in to
        vddk.url, whose certificate must have the SHA-1 vddk.thumbprint; the
        VM is found by its BIOS UUID (SearchIndex.FindByUuid), the disk by its
        backingFile among the VM's disks; its data comes from the datastore
        (the flat file over /folder, which is the disk for a VM without
        snapshots). initImageURL must be set (the VDDK library's image)."""
        import hashlib
        import ssl
        import urllib.parse
        import urllib.request
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vsphere"))
        import vsphere_soap

        def fail(message):
            self.set_dv_status(ns, name, {"phase": "Failed", "progress": "N/A", "conditions": [
                {"type": "Running", "status": "False", "reason": "Error", "message": message}]})

        time.sleep(0.2)
        try:
            secret = self.objects.get(("", "v1", "secrets", ns, vddk.get("secretRef", "")))
            if secret is None:
                return fail(f"secret {vddk.get('secretRef')} not found")
            data = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
            if not vddk.get("initImageURL"):
                return fail("no VDDK image: initImageURL is not set and there is no v2v-vmware ConfigMap")
            url = urllib.parse.urlsplit(vddk["url"])
            der = ssl.get_server_certificate((url.hostname, url.port or 443))
            der = ssl.PEM_cert_to_DER_cert(der)
            digest = hashlib.sha1(der).hexdigest().upper()
            thumbprint = ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
            if vddk.get("thumbprint", "").upper() != thumbprint:
                return fail(f"thumbprint mismatch: the server's is {thumbprint}, not {vddk.get('thumbprint')}")

            class Account:   # what vsphere_soap.Admin logs in with
                pass
            account = Account()
            account.url, account.cafile = vddk["url"], None
            account.user, account.password = data.get("accessKeyId", ""), data.get("secretKey", "")
            unverified = ssl.create_default_context()
            unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE   # the thumbprint was checked
            admin = vsphere_soap.Admin(account, context=unverified)
            found = admin.call('<FindByUuid><_this type="SearchIndex">SearchIndex</_this>'
                               f'<uuid>{vddk["uuid"]}</uuid><vmSearch>true</vmSearch></FindByUuid>')
            vm = re.search(r"<returnval[^>]*>([^<]+)</returnval>", found)
            if vm is None:
                return fail(f"no VM with UUID {vddk['uuid']}")
            props = admin.call('<RetrievePropertiesEx><_this type="PropertyCollector">propertyCollector</_this>'
                               '<specSet><propSet><type>VirtualMachine</type><pathSet>config.hardware.device</pathSet>'
                               f'</propSet><objectSet><obj type="VirtualMachine">{vm.group(1)}</obj></objectSet>'
                               '</specSet><options/></RetrievePropertiesEx>')
            if f"<fileName>{vddk['backingFile']}</fileName>" not in props:
                return fail(f"disk {vddk['backingFile']} not found on VM {vm.group(1)}")
            datastore, path = re.match(r"\[([^\]]+)\] (.+)\.vmdk$", vddk["backingFile"]).groups()
            datacenter = admin.datacenter_of(vm.group(1))
            query = urllib.parse.urlencode({"dcPath": datacenter, "dsName": datastore})
            flat = f"{url.scheme}://{url.netloc}/folder/{urllib.parse.quote(path)}-flat.vmdk?{query}"
            req = urllib.request.Request(flat, headers={"Cookie": admin.cookie})
            out_path = os.path.join(self.upload_dir, f"{ns}-{name}.img")
            with urllib.request.urlopen(req, context=unverified, timeout=60) as r:
                if not self.pull_into(ns, name, r, out_path):
                    return
            admin.logout()
            self.uploads[(ns, name)] = out_path
            self.imported_from = getattr(self, "imported_from", []) + [vddk["backingFile"]]
            self.set_dv_status(ns, name, {"phase": "Succeeded", "progress": "100.0%",
                                          "conditions": [{"type": "Ready", "status": "True", "reason": "Completed"}]})
        except Exception as e:  # noqa: BLE001 - the importer reports any failure in the DataVolume
            fail(f"{type(e).__name__}: {e}")

    def pull_into(self, ns, name, response, path):
        """An importer's copy of @response into the volume's file @path, its
        progress in the DataVolume's status; False when the DataVolume went."""
        total = int(response.headers.get("Content-Length") or 0)
        done, last = 0, 0.0
        with open(path, "wb") as out:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    return True
                out.write(chunk)
                done += len(chunk)
                if total and time.monotonic() - last > 0.1:
                    last = time.monotonic()
                    if not self.set_dv_status(ns, name, {"phase": "ImportInProgress",
                                                         "progress": f"{100.0 * done / total:.2f}%"}):
                        return False

    def set_dv_status(self, ns, name, status):
        """A DataVolume's status as its importer reports it; False when it is gone."""
        res = ("cdi.kubevirt.io", "v1beta1", "datavolumes")
        with self.lock:
            old = self.objects.get(res + (ns, name))
            if old is None:
                return False
            new = copy.deepcopy(old)
            new["status"] = status
            self.store_update(res, ns, name, old, new, "status")
            return True

    def importer(self, ns, name, url):
        """CDI's importer pod: pulls the image over HTTP into the volume,
        reporting progress in the DataVolume's status."""
        import urllib.request
        path = os.path.join(self.upload_dir, f"{ns}-{name}.img")

        def set_status(status):
            return self.set_dv_status(ns, name, status)

        time.sleep(0.2)
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                if not self.pull_into(ns, name, r, path):
                    return
            self.uploads[(ns, name)] = path
            self.imported_from = getattr(self, "imported_from", []) + [url]
            set_status({"phase": "Succeeded", "progress": "100.0%",
                        "conditions": [{"type": "Ready", "status": "True", "reason": "Completed"}]})
        except Exception as e:  # noqa: BLE001 - the importer reports any failure in the DataVolume
            set_status({"phase": "Failed", "progress": "N/A",
                        "conditions": [{"type": "Running", "status": "False", "reason": "Error", "message": str(e)}]})

    def put_object(self, res, ns, obj, typ):
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        meta.setdefault("generation", 1)
        if ns:
            meta["namespace"] = ns
        meta["resourceVersion"] = self.next_rv()
        self.objects[res + (ns, meta["name"])] = obj
        self.record(res, ns, typ, obj)

    # -- verbs
    def create(self, res, ns, obj, dry_run=False):
        meta = obj.setdefault("metadata", {})
        if "name" not in meta and "generateName" in meta:
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        if RESOURCES[res][1] and ns is None:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the path")
        if RESOURCES[res][1] and not self.objects.get(("", "v1", "namespaces", None, ns)):
            raise ApiError(404, "NotFound", f"namespaces \"{ns}\" not found")
        key = res + (ns, meta["name"])
        if key in self.objects:
            raise ApiError(409, "AlreadyExists", f"{res[2]}.{res[0]} \"{meta['name']}\" already exists",
                           {"name": meta["name"], "group": res[0], "kind": res[2]})
        meta.pop("resourceVersion", None)
        self.validate(res, obj)
        if RESOURCES[res][3] and res[2] not in ("uploadtokenrequests",):
            obj.pop("status", None)
        if dry_run:
            return obj
        self.react(res, ns, obj)
        self.put_object(res, ns, obj, "ADDED")
        return obj

    def get(self, res, ns, name):
        obj = self.objects.get(res + (ns, name))
        if obj is None:
            raise ApiError(404, "NotFound", f"{res[2]}.{res[0]} \"{name}\" not found",
                           {"name": name, "group": res[0], "kind": res[2]})
        return obj

    def replace(self, res, ns, name, obj, sub=None):
        old = self.get(res, ns, name)
        rv = obj.get("metadata", {}).get("resourceVersion")
        if rv is None and sub is None:
            raise ApiError(422, "Invalid", "metadata.resourceVersion: must be specified for an update")
        if rv is not None and rv != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f"Operation cannot be fulfilled on {res[2]}.{res[0]} \"{name}\": the object "
                           "has been modified; please apply your changes to the latest version and try again",
                           {"name": name, "group": res[0], "kind": res[2]})
        return self.store_update(res, ns, name, old, obj, sub)

    def store_update(self, res, ns, name, old, new, sub):
        new = copy.deepcopy(new)
        if RESOURCES[res][3]:
            if sub == "status":
                merged = copy.deepcopy(old)
                merged["status"] = new.get("status", {})
                new = merged
            elif "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        meta = new.setdefault("metadata", {})
        for k in ("uid", "creationTimestamp", "generation", "namespace", "name"):
            if k in old["metadata"]:
                meta[k] = old["metadata"][k]
        if new.get("spec") != old.get("spec"):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        self.validate(res, new)
        meta["resourceVersion"] = self.next_rv()
        self.objects[res + (ns, name)] = new
        self.record(res, ns, "MODIFIED", new)
        if res[2] == "virtualmachines" and sub is None:
            self.vm_power(ns, new)
        return new

    def vm_power(self, ns, vm):
        running = vm["spec"].get("runStrategy") in ("Always", "RerunOnFailure", "WaitAsReceiver")
        vmi = ("kubevirt.io", "v1", "virtualmachineinstances", ns, vm["metadata"]["name"])
        if not running and vmi in self.objects:
            self.delete(vmi[:3], ns, vmi[4])
            for k, o in list(self.objects.items()):
                if k[2] == "virtualmachineexports" and k[3] == ns and o["spec"]["source"]["name"] == vm["metadata"]["name"]:
                    updated = copy.deepcopy(o)
                    self.react_export(ns, updated)
                    self.store_update(k[:3], ns, k[4], o, updated, "status")
        status = copy.deepcopy(vm.get("status", {}))
        status.update({"printableStatus": "Running" if running else "Stopped", "ready": running})
        if status != vm.get("status"):
            merged = copy.deepcopy(vm)
            merged["status"] = status
            self.store_update(("kubevirt.io", "v1", "virtualmachines"), ns, vm["metadata"]["name"], vm, merged, "status")

    def patch(self, res, ns, name, content_type, patch, field_manager, sub=None):
        if content_type.startswith("application/apply-patch"):
            if not field_manager:
                raise ApiError(400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                               "value: is required for apply patch")
            key = res + (ns, name)
            if key not in self.objects:
                return self.create(res, ns, patch)
            old = self.objects[key]
            merged = merge_patch(old, patch)
            merged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self.store_update(res, ns, name, old, merged, sub)
        if content_type.startswith("application/merge-patch+json"):
            old = self.get(res, ns, name)
            rv = (patch.get("metadata") or {}).get("resourceVersion")
            if rv is not None and rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "the object has been modified; please apply your changes to the latest "
                               "version and try again")
            return self.store_update(res, ns, name, old, merge_patch(old, patch), sub)
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted "
                       f"media types include: application/json-patch+json, application/merge-patch+json, "
                       f"application/apply-patch+yaml")

    def delete(self, res, ns, name):
        obj = self.get(res, ns, name)
        del self.objects[res + (ns, name)]
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self.next_rv()
        self.record(res, ns, "DELETED", obj)
        if res[2] == "virtualmachines" and res[:2] + ("virtualmachineinstances", ns, name) not in self.objects:
            pass
        vmi = ("kubevirt.io", "v1", "virtualmachineinstances", ns, name)
        if res[2] == "virtualmachines" and vmi in self.objects:
            self.delete(vmi[:3], ns, name)
        return obj

    def list(self, res, ns, selector, limit, cont):
        start = 0
        if cont:
            try:
                offset, rv = (int(x) for x in base64.b64decode(cont).decode().split(":"))
            except ValueError:
                raise ApiError(400, "BadRequest", "invalid continue token") from None
            if rv <= self.compacted:
                raise ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent list "
                               "result. You can start a new list without the continue parameter.")
            start = offset
        items = [o for k, o in sorted(self.objects.items(), key=lambda kv: (kv[0][3] or "", kv[0][4]))
                 if k[:3] == res and (ns is None or k[3] == ns)
                 and selector_matches(selector, o["metadata"].get("labels", {}))]
        page = items[start:start + limit] if limit else items[start:]
        meta = {"resourceVersion": str(self.rv)}
        if limit and start + limit < len(items):
            meta["continue"] = base64.b64encode(f"{start + limit}:{self.rv}".encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        kind = RESOURCES[res][0] + "List"
        return {"kind": kind, "apiVersion": res[1] if not res[0] else f"{res[0]}/{res[1]}", "metadata": meta,
                "items": copy.deepcopy(page)}

    # -- the upload proxy
    def receive_upload(self, token, reader, length, chunked, content_type):
        target = None if self.expire_upload_tokens else self.upload_tokens.get(token)
        if target is None:
            raise ApiError(401, "Unauthorized", "invalid or expired upload token")
        ns, name = target
        gate = self.upload_gate
        if gate is not None:
            self.uploads_waiting += 1
            try:
                gate.wait(60)
            finally:
                self.uploads_waiting -= 1
        dv = self.get(("cdi.kubevirt.io", "v1beta1", "datavolumes"), ns, name)
        path = os.path.join(self.upload_dir, f"{ns}-{name}.img")
        # Like CDI, tell a gzip stream by its magic, not by the headers.
        decomp = None
        received = 0
        with open(path, "wb") as out:
            for chunk in reader:
                if received == 0 and chunk[:2] == b"\x1f\x8b":
                    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
                received += len(chunk)
                if self.fail_uploads_after is not None and received > self.fail_uploads_after:
                    raise ConnectionAbortedError("upload proxy dropped the connection")
                out.write(decomp.decompress(chunk) if decomp else chunk)
            if decomp:
                out.write(decomp.flush())
        size = os.path.getsize(path)
        want = dv["spec"].get("storage", dv["spec"].get("pvc", {})).get("resources", {}).get("requests", {}).get("storage")
        if want is not None and size > parse_quantity(want):
            raise ApiError(400, "BadRequest", f"the image ({size} bytes) is larger than the claim ({want})")
        self.uploads[(ns, name)] = path
        with self.lock:
            old = self.objects[("cdi.kubevirt.io", "v1beta1", "datavolumes", ns, name)]
            new = copy.deepcopy(old)
            new["status"] = {"phase": "Succeeded", "progress": "100.0%",
                             "conditions": [{"type": "Ready", "status": "True", "reason": "Completed"}]}
            self.store_update(("cdi.kubevirt.io", "v1beta1", "datavolumes"), ns, name, old, new, "status")
            del self.upload_tokens[token]
        return size


def parse_quantity(q):
    m = re.fullmatch(r"(\d+)([KMGTPE]i?)?", str(q))
    if not m:
        return float("inf")
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    return int(m.group(1)) * units.get(m.group(2) or "", 1)


EXPORT = re.compile(r"^/api/export.kubevirt.io/v1/namespaces/(?P<ns>[^/]+)/virtualmachineexports/(?P<name>[^/]+)"
                    r"/volumes/(?P<claim>[^/]+)/(?P<file>disk\.img(\.gz)?)$")
PATH = re.compile(r"^/(?:api/(?P<cv>v1)|apis/(?P<g>[^/]+)/(?P<v>[^/]+))(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)"
                  r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    @property
    def cluster(self):
        return self.server.cluster

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(self.chunks())
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def chunks(self):
        while True:
            size = int(self.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return
            data = self.rfile.read(size)
            self.rfile.readline()
            yield data

    def user(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.cluster.tokens:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return self.cluster.tokens[auth[7:]]

    def handle_any(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        self.cluster.requests.append((method, url.path))
        try:
            if url.path == "/v1beta1/upload" and method == "POST":
                token = self.headers.get("Authorization", "")[7:]
                reader = self.chunks() if self.headers.get("Transfer-Encoding", "").lower() == "chunked" else \
                    iter([self.rfile.read(int(self.headers.get("Content-Length") or 0))])
                self.cluster.receive_upload(token, reader, None, True, self.headers.get("Content-Encoding", "") +
                                            self.headers.get("Content-Type", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            m = EXPORT.match(url.path)
            if m and method in ("GET", "HEAD"):
                return self.serve_export(method, m, query)
            user = self.user()
            if url.path == "/version":
                return self.send_json(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-standin"})
            m = PATH.match(url.path)
            if not m:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            res = ("", "v1", m["plural"]) if m["cv"] else (m["g"], m["v"], m["plural"])
            if res not in RESOURCES:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            verb = {"GET": "list" if not m["name"] else "get", "POST": "create", "PUT": "update",
                    "PATCH": "patch", "DELETE": "delete"}[method]
            if query.get("watch") in ("1", "true"):
                verb = "watch"
            if verb == "list":
                self.cluster.lists[res[2]] = self.cluster.lists.get(res[2], 0) + 1
            if (user, verb, res[2]) in self.cluster.forbidden:
                raise ApiError(403, "Forbidden", f"{res[2]}.{res[0]} is forbidden: User \"{user}\" cannot {verb} "
                               f"resource \"{res[2]}\" in API group \"{res[0]}\" in the namespace \"{m['ns']}\"",
                               {"group": res[0], "kind": res[2]})
            ns, name, sub = m["ns"], m["name"], m["sub"]
            if verb == "watch":
                return self.watch(res, ns, query)
            body = self.read_body()
            obj = json.loads(body) if body else None
            with self.cluster.lock:
                if method == "GET" and name:
                    return self.send_json(200, self.cluster.get(res, ns, name))
                if method == "GET":
                    return self.send_json(200, self.cluster.list(res, ns, query.get("labelSelector"),
                                                                 int(query.get("limit", 0)), query.get("continue")))
                if method == "POST":
                    return self.send_json(201, self.cluster.create(res, ns, obj, query.get("dryRun") == "All"))
                if method == "PUT":
                    return self.send_json(200, self.cluster.replace(res, ns, name, obj, sub))
                if method == "PATCH":
                    return self.send_json(200, self.cluster.patch(res, ns, name, self.headers.get("Content-Type", ""),
                                                                  obj, query.get("fieldManager"), sub))
                if method == "DELETE":
                    self.cluster.delete(res, ns, name)
                    return self.send_json(200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                                                "details": {"name": name, "kind": res[2]}})
        except ApiError as e:
            self.send_json(e.code, e.body)
        except (ConnectionAbortedError, BrokenPipeError):
            self.close_connection = True

    def serve_export(self, method, m, query):
        token = self.headers.get("x-kubevirt-export-token") or query.get("x-kubevirt-export-token")
        with self.cluster.lock:
            path = self.cluster.export_volume(m["ns"], m["name"], m["claim"], token)
        size = os.path.getsize(path)
        if m["file"] == "disk.img.gz":
            with open(path, "rb") as f:
                data = gzip.compress(f.read())
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if method == "GET":
                self.wfile.write(data)
            return
        start, end = 0, size - 1
        rng = self.headers.get("Range")
        if rng:
            a, b = rng.split("=", 1)[1].split("-", 1)
            start, end = int(a), min(int(b) if b else size - 1, size - 1)
        self.send_response(206 if rng else 200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if method == "GET":
            with open(path, "rb") as f:
                f.seek(start)
                self.wfile.write(f.read(end - start + 1))

    def watch(self, res, ns, query):
        rv = int(query.get("resourceVersion") or self.cluster.rv)
        timeout = min(int(query.get("timeoutSeconds", 30)), 30)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        if rv < self.cluster.compacted:
            raise ApiError(410, "Expired", f"too old resource version: {rv} ({self.cluster.compacted})")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(event):
            data = (json.dumps(event) + "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        deadline = time.monotonic() + timeout
        last_bookmark = time.monotonic()
        self.cluster.watch_close.clear()
        try:
            while time.monotonic() < deadline and not self.cluster.watch_close.is_set():
                with self.cluster.lock:
                    if rv < self.cluster.compacted:
                        send({"type": "ERROR", "object": status_body(410, "Expired", "too old resource version")})
                        break
                    pending = [e for e in self.cluster.events if e[0] > rv and e[1] == res and (ns is None or e[2] == ns)
                               and selector_matches(query.get("labelSelector"), e[4]["metadata"].get("labels", {}))]
                    if not pending:
                        self.cluster.lock.wait(0.2)
                for event in pending:
                    rv = event[0]
                    send({"type": event[3], "object": event[4]})
                if bookmarks and time.monotonic() - last_bookmark > 1:
                    last_bookmark = time.monotonic()
                    rv = max(rv, self.cluster.rv if not pending else rv)
                    send({"type": "BOOKMARK", "object": {"kind": RESOURCES[res][0],
                                                         "apiVersion": res[1] if not res[0] else f"{res[0]}/{res[1]}",
                                                         "metadata": {"resourceVersion": str(rv)}}})
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def do_GET(self):
        self.handle_any("GET")

    def do_HEAD(self):
        self.handle_any("HEAD")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that goes away mid-request (mtvd killed by a test) is what
        # a real API server shrugs off too; anything else is a bug here.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def make_tls(directory, name="standin"):
    """A CA and a server certificate for 127.0.0.1 (openssl): (ca, cert, key) paths."""
    import subprocess
    ca_key, ca = os.path.join(directory, f"{name}-ca.key"), os.path.join(directory, f"{name}-ca.crt")
    key, csr, cert = (os.path.join(directory, f"{name}.{x}") for x in ("key", "csr", "crt"))
    ext = os.path.join(directory, f"{name}.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
        "-subj", f"/CN={name} CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
        "-days", "2", "-extfile", ext)
    return ca, cert, key


def start(upload_dir, port=0, tls=False):
    """Starts the stand-in on 127.0.0.1; returns (server, url). The cluster
    begins with the namespaces default and mtv-test, storage classes standard
    and fast, a CDIConfig with an upload proxy URL, and KubeVirt's and CDI's
    operators' CRs (for versions)."""
    cluster = Cluster(upload_dir)
    server = Server(("127.0.0.1", port), Handler)
    server.cluster = cluster
    url = f"http://127.0.0.1:{server.server_address[1]}"
    if tls:
        import ssl
        server.ca_file, cert, key = make_tls(upload_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        url = url.replace("http://", "https://")
    cluster.url = url
    with cluster.lock:
        for ns in ("default", "mtv-test", "kubevirt", "cdi"):
            cluster.put_object(("", "v1", "namespaces"), None,
                               {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, "ADDED")
        for sc in ("standard", "fast"):
            cluster.put_object(("storage.k8s.io", "v1", "storageclasses"), None,
                               {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": sc},
                                "provisioner": "standin.example.com"}, "ADDED")
        cluster.put_object(("cdi.kubevirt.io", "v1beta1", "cdiconfigs"), None,
                           {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "CDIConfig", "metadata": {"name": "config"},
                            "spec": {}, "status": {"uploadProxyURL": url}}, "ADDED")
        cluster.put_object(("cdi.kubevirt.io", "v1beta1", "cdis"), None,
                           {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "CDI", "metadata": {"name": "cdi"},
                            "spec": {}, "status": {"phase": "Deployed", "observedVersion": "v1.61.0"}}, "ADDED")
        cluster.put_object(("kubevirt.io", "v1", "kubevirts"), "kubevirt",
                           {"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
                            "metadata": {"name": "kubevirt", "namespace": "kubevirt"},
                            "spec": {"configuration": {"developerConfiguration": {
                                "featureGates": ["DecentralizedLiveMigration"]}}},
                            "status": {"phase": "Deployed", "observedKubeVirtVersion": "v1.6.0"}}, "ADDED")
    if cluster.url is None:
        cluster.url = url
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, url

"""Pre-flight inputs -> Plan: an ARM resource body, an ARM deployment template, or a Terraform plan.

Owns: telling the three apart (`detect`), finding the AKS cluster and pool resources in them, and
turning each into the ARM body shape ClusterView reads. Templates are evaluated offline (see
armexpr); values that cannot be computed are listed in `Plan.unresolved` and left out of the body,
never guessed. Planned subnets and VNets declared next to the cluster become `related_bodies`, so
the checks read what will exist rather than a 404.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared import armid
from shared.armid import ResourceKind
from shared.preflight import armexpr
from shared.preflight.armexpr import Scope, Unresolved
from shared.preflight.model import Plan, SourceKind, SourceLocation, UnresolvedValue

MC_TYPE = "microsoft.containerservice/managedclusters"
POOL_TYPE = "microsoft.containerservice/managedclusters/agentpools"
VNET_TYPE = "microsoft.network/virtualnetworks"
SUBNET_TYPE = "microsoft.network/virtualnetworks/subnets"
DEPLOYMENT_TYPE = "microsoft.resources/deployments"
MAX_NESTING = 8


class PlanInputError(ValueError):
    """The input cannot be turned into a plan; the message is one line for the user."""


@dataclass(frozen=True)
class Where:
    """Deployment scope given on the command line (or the environment)."""

    subscription: str | None = None
    resource_group: str | None = None
    resource_group_location: str | None = None


def detect(doc: Any) -> SourceKind:
    if isinstance(doc, Mapping):
        schema = str(doc.get("$schema") or "").lower()
        if "deploymenttemplate" in schema or ("resources" in doc and ("contentVersion" in doc
                                                                      or "languageVersion" in doc)):
            return "arm_template"
        if "format_version" in doc and ("planned_values" in doc or "resource_changes" in doc):
            return "terraform_plan"
        rtype = str(doc.get("type") or "").lower()
        if rtype in (MC_TYPE, POOL_TYPE) or isinstance(_props(doc).get("agentPoolProfiles"), list) \
                or isinstance(doc.get("agentPoolProfiles"), list):
            return "arm_resource"
        if "deploymentparameters" in schema:
            raise PlanInputError("this is a parameters file: pass the template with --template and this file "
                                 "with --parameters")
    raise PlanInputError("cannot tell what the file is: expected an ARM resource body "
                         "(Microsoft.ContainerService/managedClusters or .../agentPools), an ARM deployment "
                         "template (bicep build output) or `terraform show -json` plan output")


def _props(body: Any) -> Mapping[str, Any]:
    p = body.get("properties") if isinstance(body, Mapping) else None
    return p if isinstance(p, Mapping) else {}


def line_of(text: str, pattern: str, nth: int = 0) -> int:
    """1-based line of the nth match of `pattern` in `text` (1 when not found)."""
    for i, m in enumerate(re.finditer(pattern, text)):
        if i == nth:
            return text.count("\n", 0, m.start()) + 1
    return 1


# --- ARM resource body -----------------------------------------------------------------------


# Top-level keys of an ARM resource; everything else in `az aks show` / `az aks nodepool show` output
# (which flattens `properties`) is a property.
_ENVELOPE = frozenset({"id", "name", "type", "location", "tags", "sku", "identity", "extendedLocation", "systemData",
                       "eTag", "etag", "kind", "zones", "resourceGroup", "properties"})


def _unflatten(doc: Mapping[str, Any]) -> dict[str, Any]:
    """`az aks show -o json` puts the properties at the top level: put them back under `properties`."""
    if isinstance(doc.get("properties"), Mapping):
        return dict(doc)
    out = {k: v for k, v in doc.items() if k in _ENVELOPE}
    out["properties"] = {k: v for k, v in doc.items() if k not in _ENVELOPE}
    return out


def from_resource(doc: Mapping[str, Any], *, file: str, text: str, where: Where,
                  cluster_name: str | None = None) -> Plan:
    doc = _unflatten(doc)
    rtype = str(doc.get("type") or MC_TYPE).lower()
    rid = armid.clean(doc.get("id"))
    name = str(doc.get("name") or cluster_name or "")
    if rid is None:
        if not (where.subscription and where.resource_group and name):
            raise PlanInputError("the resource body has no 'id': add it, or pass -g GROUP and --subscription ID "
                                 "(and give the body a 'name')")
        if rtype == POOL_TYPE:
            raise PlanInputError("an agentPools body needs its 'id' (…/managedClusters/NAME/agentPools/POOL)")
        rid = (f"/subscriptions/{where.subscription}/resourceGroups/{where.resource_group}/providers/"
               f"Microsoft.ContainerService/managedClusters/{name}")
    loc = SourceLocation(file=file, line=line_of(text, r'"(?:id|type)"\s*:'), address=armid.name_of(rid))
    if armid.is_kind(rid, ResourceKind.AGENT_POOL) or rtype == POOL_TYPE:
        cluster_id = armid.parent_of(rid)
        if not cluster_id or not armid.is_kind(cluster_id, ResourceKind.MANAGED_CLUSTER):
            raise PlanInputError(f"agent pool id {rid} is not under a managed cluster")
        pool = {"name": armid.name_of(rid), "id": rid, "properties": dict(_props(doc))}
        return Plan(source="arm_resource", cluster_id=cluster_id, pool_bodies=(pool,),
                    locations={rid.lower(): loc, cluster_id.lower(): loc})
    if not armid.is_kind(rid, ResourceKind.MANAGED_CLUSTER):
        raise PlanInputError(f"'id' {rid[:200]} is not a Microsoft.ContainerService/managedClusters id")
    body = dict(doc)
    body["id"] = rid
    body.setdefault("name", armid.name_of(rid))
    return Plan(source="arm_resource", cluster_id=rid, cluster_body=body, locations={rid.lower(): loc})


def pool_file(doc: Any, cluster_id: str) -> dict[str, Any]:
    """`--add-pool FILE`: an agentPools body (as ARM returns it or as PUT takes it) or its properties."""
    if not isinstance(doc, Mapping):
        raise PlanInputError("--add-pool: expected a JSON object (an agentPools body)")
    props = dict(_props(doc)) if "properties" in doc else {k: v for k, v in doc.items() if k != "name"}
    name = doc.get("name") or (armid.name_of(doc["id"]) if isinstance(doc.get("id"), str) else None)
    if not isinstance(name, str) or not name.strip():
        raise PlanInputError("--add-pool: the pool body needs a 'name'")
    name = name.rsplit("/", 1)[-1]
    return {"name": name, "id": f"{cluster_id}/agentPools/{name}", "properties": props}


# --- ARM deployment template -----------------------------------------------------------------


@dataclass
class _Found:
    kind: str  # lower-cased full type
    rid: str
    body: dict[str, Any]
    line: int
    address: str


@dataclass
class _TemplateRun:
    file: str
    text: str
    unresolved: list[UnresolvedValue] = field(default_factory=list)
    found: list[_Found] = field(default_factory=list)
    type_seen: dict[str, int] = field(default_factory=dict)

    def note(self, path: str, reason: str) -> None:
        if not any(u.path == path for u in self.unresolved):
            self.unresolved.append(UnresolvedValue(path=path, reason=reason))


def _parameter_values(parameters: Any) -> dict[str, Any]:
    """A deploymentParameters file ({"parameters": {x: {value}}}) or a plain {x: {value}} / {x: v}."""
    if parameters is None:
        return {}
    if not isinstance(parameters, Mapping):
        raise PlanInputError("--parameters: expected a JSON object")
    inner = parameters.get("parameters", parameters)
    if not isinstance(inner, Mapping):
        raise PlanInputError("--parameters: 'parameters' must be an object")
    out: dict[str, Any] = {}
    for k, v in inner.items():
        if k.startswith("$") or k == "contentVersion":
            continue
        if isinstance(v, Mapping) and "reference" in v:
            out[k] = Unresolved(f"parameter {k} is a Key Vault reference")
        elif isinstance(v, Mapping) and "value" in v:
            out[k] = v["value"]
        elif not isinstance(v, Mapping):
            out[k] = v
    return out


def _bind_parameters(template: Mapping[str, Any], given: Mapping[str, Any], scope: Scope, run: _TemplateRun,
                     prefix: str) -> None:
    declared = template.get("parameters") or {}
    if not isinstance(declared, Mapping):
        return
    for name, spec in declared.items():
        spec = spec if isinstance(spec, Mapping) else {}
        match = next((v for k, v in given.items() if k.lower() == name.lower()), _NONE)
        if match is not _NONE:
            value = match
        elif "defaultValue" in spec:
            value = armexpr.evaluate_value(spec["defaultValue"], scope)
        else:
            value = Unresolved(f"parameter {name} has no value and no defaultValue: pass it in --parameters")
        scope.parameters[name] = value
        if isinstance(value, Unresolved):
            run.note(f"{prefix}parameters.{name}", value.reason)


_NONE = object()


def _resources(template: Mapping[str, Any]) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    res = template.get("resources") or []
    if isinstance(res, Mapping):  # languageVersion 2.0: symbolic names
        for sym, body in res.items():
            if isinstance(body, Mapping):
                yield str(sym), body
    elif isinstance(res, list):
        for body in res:
            if isinstance(body, Mapping):
                yield None, body


def _strip(value: Any, path: str, run: _TemplateRun) -> Any:
    """Drop Unresolved leaves from an evaluated body, recording each path."""
    if isinstance(value, Unresolved):
        run.note(path, value.reason)
        return _NONE
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            s = _strip(v, f"{path}.{k}", run)
            if s is not _NONE:
                out[k] = s
        return out
    if isinstance(value, list):
        items = [_strip(v, f"{path}[{i}]", run) for i, v in enumerate(value)]
        return [v for v in items if v is not _NONE]
    return value


def _walk_template(template: Mapping[str, Any], scope: Scope, run: _TemplateRun, depth: int,
                   parent: tuple[str, str] | None = None) -> None:
    if depth > MAX_NESTING:
        run.note("resources", f"nested deployments deeper than {MAX_NESTING} levels were not read")
        return
    for sym, res in _resources(template):
        raw_type = str(res.get("type") or "")
        if res.get("existing") is True:
            continue
        relative = parent is not None and "." not in raw_type.split("/", 1)[0]
        rtype = f"{parent[0]}/{raw_type}" if relative and parent is not None else raw_type
        key = rtype.lower()
        nth = run.type_seen.get(raw_type, 0)
        run.type_seen[raw_type] = nth + 1
        line = (line_of(run.text, rf'"{re.escape(sym)}"\s*:\s*\{{') if sym
                else line_of(run.text, rf'"type"\s*:\s*"{re.escape(raw_type)}"', nth))
        name_v = armexpr.evaluate_value(res.get("name"), scope)
        label = f"{rtype} {sym or res.get('name')}"
        if "condition" in res:
            cond = armexpr.evaluate_value(res.get("condition"), scope)
            if isinstance(cond, Unresolved):
                run.note(f"{label}.condition", f"{cond.reason}; the resource is assumed deployed")
            elif cond is False:
                continue
        if "copy" in res:
            run.note(f"{label}.copy", "copy loops are not expanded; this resource was not checked")
            continue
        if isinstance(name_v, Unresolved):
            if key in (MC_TYPE, POOL_TYPE, VNET_TYPE, SUBNET_TYPE, DEPLOYMENT_TYPE):
                run.note(f"{label}.name", name_v.reason)
            continue
        name = f"{parent[1]}/{name_v}" if relative and parent is not None else str(name_v)
        if key == DEPLOYMENT_TYPE:
            _nested(res, scope, run, depth, label)
            continue
        if key in (MC_TYPE, POOL_TYPE, VNET_TYPE, SUBNET_TYPE):
            rid = _rid(scope, rtype, name, run, label)
            if rid is not None:
                evaluated = armexpr.evaluate_value(
                    {k: v for k, v in res.items() if k not in ("type", "name", "apiVersion", "dependsOn", "condition",
                                                                "resources", "comments", "metadata", "scope",
                                                                "existing", "parent")}, scope)
                body = _strip(evaluated, label, run)
                body = body if isinstance(body, dict) else {}
                body.update({"id": rid, "name": name.rsplit("/", 1)[-1], "type": rtype})
                run.found.append(_Found(key, rid, body, line, sym or name))
        children = res.get("resources")
        if isinstance(children, list) and children:
            _walk_template({"resources": children}, scope, run, depth, (rtype, name))


def _rid(scope: Scope, rtype: str, name: str, run: _TemplateRun, label: str) -> str | None:
    names = name.split("/")
    ns, *types = rtype.split("/")
    if len(types) != len(names):
        run.note(f"{label}.name", f"name {name!r} does not match type {rtype}")
        return None
    if isinstance(scope.subscription_id, Unresolved) or isinstance(scope.resource_group, Unresolved):
        run.note(label, "the deployment's subscription / resource group is unknown: pass --subscription and -g")
        return None
    return (f"/subscriptions/{scope.subscription_id}/resourceGroups/{scope.resource_group}/providers/{ns}"
            + "".join(f"/{t}/{n}" for t, n in zip(types, names, strict=True)))


def _nested(res: Mapping[str, Any], scope: Scope, run: _TemplateRun, depth: int, label: str) -> None:
    props = res.get("properties") if isinstance(res.get("properties"), Mapping) else {}
    assert isinstance(props, Mapping)
    inner = props.get("template")
    if not isinstance(inner, Mapping):
        if props.get("templateLink"):
            run.note(f"{label}.properties.templateLink", "linked templates are not fetched; not checked")
        return
    sub = armexpr.evaluate_value(res.get("subscriptionId", scope.subscription_id), scope)
    rg = armexpr.evaluate_value(res.get("resourceGroup", scope.resource_group), scope)
    options = props.get("expressionEvaluationOptions") if isinstance(props.get("expressionEvaluationOptions"),
                                                                      Mapping) else {}
    assert isinstance(options, Mapping)
    inner_scope_mode = str(options.get("scope") or "outer").lower()
    rg_loc = scope.resource_group_location if (rg == scope.resource_group) else Unresolved(
        f"location of resource group {rg} was not read")
    if inner_scope_mode == "inner":
        given = {k: armexpr.evaluate_value(v.get("value"), scope) if isinstance(v, Mapping) and "value" in v
                 else Unresolved(f"nested parameter {k} is a reference")
                 for k, v in (props.get("parameters") or {}).items()}
        child = Scope(subscription_id=sub if isinstance(sub, str) else Unresolved("nested subscription unknown"),
                      resource_group=rg if isinstance(rg, str) else Unresolved("nested resource group unknown"),
                      resource_group_location=rg_loc, raw_variables=inner.get("variables") or {},
                      deployment_name=str(armexpr.evaluate_value(res.get("name"), scope)))
        _bind_parameters(inner, given, child, run, f"{label}.")
    else:
        child = Scope(subscription_id=scope.subscription_id, resource_group=scope.resource_group,
                      resource_group_location=scope.resource_group_location, parameters=scope.parameters,
                      raw_variables=scope.raw_variables, deployment_name=scope.deployment_name)
    _walk_template(inner, child, run, depth + 1)


def from_template(doc: Mapping[str, Any], *, file: str, text: str, parameters: Any, where: Where) -> Plan:
    run = _TemplateRun(file=file, text=text)
    scope = Scope(
        subscription_id=where.subscription or Unresolved("subscription unknown: pass --subscription"),
        resource_group=where.resource_group or Unresolved("resource group unknown: pass -g GROUP"),
        resource_group_location=where.resource_group_location or Unresolved(
            "resourceGroup().location: the resource group could not be read"),
        raw_variables=doc.get("variables") or {})
    _bind_parameters(doc, _parameter_values(parameters), scope, run, "")
    _walk_template(doc, scope, run, 0)
    clusters = [f for f in run.found if f.kind == MC_TYPE]
    pools = [f for f in run.found if f.kind == POOL_TYPE]
    if not clusters and not pools:
        why = "; ".join(f"{u.path}: {u.reason}" for u in run.unresolved[:3])
        raise PlanInputError("the template declares no Microsoft.ContainerService/managedClusters or agentPools "
                             "resource" + (f" that could be resolved ({why})" if why else ""))
    cluster_id = clusters[0].rid if clusters else armid.parent_of(pools[0].rid) or ""
    pools = [p for p in pools if armid.same(armid.parent_of(p.rid), cluster_id)]
    notes = [UnresolvedValue(path=f"{c.kind} {c.address}", reason="a second cluster in the template was not checked")
             for c in clusters[1:]]
    related: dict[str, dict[str, Any]] = {}
    for f in run.found:
        if f.kind == VNET_TYPE:
            related[f.rid] = f.body
            for sn in _props(f.body).get("subnets") or []:
                if isinstance(sn, Mapping) and isinstance(sn.get("name"), str):
                    sid = f"{f.rid}/subnets/{sn['name']}"
                    related.setdefault(sid, {"id": sid, "name": sn["name"], "properties": dict(_props(sn))})
        elif f.kind == SUBNET_TYPE:
            related[f.rid] = f.body
    locations = {f.rid.lower(): SourceLocation(file=file, line=f.line, address=f.address)
                 for f in run.found if f.kind in (MC_TYPE, POOL_TYPE)}
    return Plan(source="arm_template", cluster_id=cluster_id, cluster_body=clusters[0].body if clusters else None,
                pool_bodies=tuple({"name": armid.name_of(p.rid), "id": p.rid, "properties": dict(_props(p.body))}
                                  for p in pools),
                related_bodies=related, unresolved=tuple(run.unresolved + notes), locations=locations)


# --- Terraform plan (terraform show -json) ---------------------------------------------------


def _tf_resources(module: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(module, Mapping):
        return
    for r in module.get("resources") or []:
        if isinstance(r, Mapping):
            yield r
    for child in module.get("child_modules") or []:
        yield from _tf_resources(child)


def _tf_config(module: Any, prefix: str, resources: dict[str, Mapping[str, Any]],
               calls: dict[str, Mapping[str, Any]]) -> None:
    """Configuration resources by full address, and each module call's input expressions by module prefix."""
    if not isinstance(module, Mapping):
        return
    for r in module.get("resources") or []:
        if isinstance(r, Mapping):
            resources[prefix + str(r.get("address") or "")] = r
    for name, call in (module.get("module_calls") or {}).items():
        if isinstance(call, Mapping):
            calls[f"{prefix}module.{name}."] = call.get("expressions") or {}
            _tf_config(call.get("module"), f"{prefix}module.{name}.", resources, calls)


def _first(block: Any) -> Mapping[str, Any]:
    if isinstance(block, list) and block and isinstance(block[0], Mapping):
        return block[0]
    return block if isinstance(block, Mapping) else {}


def _unknown_paths(flags: Any, path: str) -> Iterator[str]:
    if flags is True:
        yield path
    elif isinstance(flags, Mapping):
        for k, v in flags.items():
            yield from _unknown_paths(v, f"{path}.{k}")
    elif isinstance(flags, list):
        for i, v in enumerate(flags):
            yield from _unknown_paths(v, f"{path}[{i}]")


def _set(d: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != [] and value != "":
        d[key] = value


def _tf_pool(v: Mapping[str, Any], *, default: bool) -> dict[str, Any]:
    p: dict[str, Any] = {}
    _set(p, "vmSize", v.get("vm_size"))
    _set(p, "count", v.get("node_count"))
    _set(p, "minCount", v.get("min_count"))
    _set(p, "maxCount", v.get("max_count"))
    auto = v.get("auto_scaling_enabled", v.get("enable_auto_scaling"))
    _set(p, "enableAutoScaling", auto if isinstance(auto, bool) else None)
    _set(p, "vnetSubnetID", v.get("vnet_subnet_id"))
    _set(p, "podSubnetID", v.get("pod_subnet_id"))
    _set(p, "maxPods", v.get("max_pods"))
    _set(p, "orchestratorVersion", v.get("orchestrator_version"))
    _set(p, "availabilityZones", v.get("zones"))
    _set(p, "osSKU", v.get("os_sku"))
    _set(p, "osType", v.get("os_type"))
    _set(p, "type", v.get("type"))
    _set(p, "mode", "System" if default else v.get("mode") or "User")
    pip = v.get("node_public_ip_enabled", v.get("enable_node_public_ip"))
    _set(p, "enableNodePublicIP", pip if isinstance(pip, bool) else None)
    if str(v.get("priority") or "").lower() == "spot":
        p["scaleSetPriority"] = "Spot"
    surge = _first(v.get("upgrade_settings")).get("max_surge")
    if surge is not None:
        p["upgradeSettings"] = {"maxSurge": surge}
    return p


def _tf_cluster(v: Mapping[str, Any], rid: str) -> dict[str, Any]:
    props: dict[str, Any] = {}
    _set(props, "kubernetesVersion", v.get("kubernetes_version"))
    _set(props, "dnsPrefix", v.get("dns_prefix"))
    _set(props, "nodeResourceGroup", v.get("node_resource_group"))
    api: dict[str, Any] = {}
    access = _first(v.get("api_server_access_profile"))
    ranges = access.get("authorized_ip_ranges") or v.get("api_server_authorized_ip_ranges")
    _set(api, "authorizedIPRanges", list(ranges) if isinstance(ranges, list) else None)
    _set(api, "subnetId", access.get("subnet_id"))
    vni = access.get("virtual_network_integration_enabled", access.get("vnet_integration_enabled"))
    if isinstance(vni, bool):
        api["enableVnetIntegration"] = vni
    if v.get("private_cluster_enabled") is True:
        api["enablePrivateCluster"] = True
    _set(api, "privateDNSZone", v.get("private_dns_zone_id"))
    if v.get("private_cluster_public_fqdn_enabled") is True:
        api["enablePrivateClusterPublicFQDN"] = True
    if api:
        props["apiServerAccessProfile"] = api
    net_v = _first(v.get("network_profile"))
    net: dict[str, Any] = {}
    for tf, arm in (("network_plugin", "networkPlugin"), ("network_plugin_mode", "networkPluginMode"),
                    ("network_policy", "networkPolicy"), ("network_data_plane", "networkDataplane"),
                    ("outbound_type", "outboundType"), ("pod_cidr", "podCidr"), ("service_cidr", "serviceCidr"),
                    ("dns_service_ip", "dnsServiceIP"), ("load_balancer_sku", "loadBalancerSku"),
                    ("pod_cidrs", "podCidrs"), ("service_cidrs", "serviceCidrs")):
        _set(net, arm, net_v.get(tf))
    if isinstance(net.get("loadBalancerSku"), str):
        net["loadBalancerSku"] = net["loadBalancerSku"].lower()
    lbp = _first(net_v.get("load_balancer_profile"))
    lb: dict[str, Any] = {}
    if lbp.get("managed_outbound_ip_count") is not None:
        lb["managedOutboundIPs"] = {"count": lbp["managed_outbound_ip_count"]}
    if lbp.get("outbound_ip_address_ids"):
        lb["outboundIPs"] = {"publicIPs": [{"id": i} for i in lbp["outbound_ip_address_ids"]]}
    if lbp.get("outbound_ip_prefix_ids"):
        lb["outboundIPPrefixes"] = {"publicIPPrefixes": [{"id": i} for i in lbp["outbound_ip_prefix_ids"]]}
    if lb:
        net["loadBalancerProfile"] = lb
    if net:
        props["networkProfile"] = net
    pool = _tf_pool(_first(v.get("default_node_pool")), default=True)
    pool["name"] = _first(v.get("default_node_pool")).get("name") or "default"
    props["agentPoolProfiles"] = [pool]
    body: dict[str, Any] = {"id": rid, "name": v.get("name"), "type": "Microsoft.ContainerService/managedClusters",
                            "location": v.get("location"), "properties": props}
    tier = v.get("sku_tier")
    if tier:
        body["sku"] = {"name": "Base", "tier": tier}
    ident = _first(v.get("identity"))
    if ident.get("type"):
        itype = str(ident["type"]).replace(", ", ",")
        body["identity"] = {"type": itype}
        if ident.get("identity_ids"):
            body["identity"]["userAssignedIdentities"] = {i: {} for i in ident["identity_ids"]}
    sp = _first(v.get("service_principal"))
    if sp.get("client_id"):
        props["servicePrincipalProfile"] = {"clientId": sp["client_id"]}
    kub = _first(v.get("kubelet_identity"))
    if kub:
        props["identityProfile"] = {"kubeletidentity": {k2: kub.get(k1) for k1, k2 in (
            ("client_id", "clientId"), ("object_id", "objectId"), ("user_assigned_identity_id", "resourceId"))
            if kub.get(k1)}}
    if v.get("http_proxy_config"):
        props["httpProxyConfig"] = {"httpProxy": "(set)"}
    return body


def _tf_subscription(doc: Mapping[str, Any], where: Where) -> str | None:
    cfg = (doc.get("configuration") or {}).get("provider_config") or {}
    for key, prov in cfg.items() if isinstance(cfg, Mapping) else ():
        if str(key).split(".")[0] == "azurerm" and isinstance(prov, Mapping):
            sub = ((prov.get("expressions") or {}).get("subscription_id") or {}).get("constant_value")
            if isinstance(sub, str) and sub.strip():
                return sub.strip()
    return where.subscription


def _module_prefix(address: str) -> str:
    m = re.match(r"^((?:module\.[^.\[]+(?:\[[^\]]*\])?\.)*)", address)
    return re.sub(r"\[[^\]]*\]", "", m.group(1)) if m else ""


def _tf_refs(resources: Mapping[str, Mapping[str, Any]], calls: Mapping[str, Mapping[str, Any]], address: str,
             *path: str) -> list[str]:
    """Full addresses an attribute refers to (e.g. default_node_pool.vnet_subnet_id), through module inputs."""
    node: Any = (resources.get(re.sub(r"\[[^\]]*\]", "", address)) or {}).get("expressions") or {}
    for key in path:
        node = _first(node.get(key)) if isinstance(node, Mapping) and isinstance(node.get(key), list) else (
            node.get(key) if isinstance(node, Mapping) else None)
    refs = [str(r) for r in (node.get("references") if isinstance(node, Mapping) else None) or []
            if isinstance(r, str)]
    prefix = _module_prefix(address)
    out: list[str] = []
    for _ in range(MAX_NESTING):
        nxt: list[str] = []
        for r in refs:
            if r.startswith("var.") and prefix:
                expr = calls.get(prefix, {}).get(r.split(".")[1]) or {}
                parent = prefix[:prefix.rstrip(".").rfind("module.")] if prefix.count("module.") > 1 else ""
                nxt += [parent + str(x) for x in (expr.get("references") or []) if isinstance(x, str)]
            else:
                out.append(r if r.startswith(prefix) else prefix + r)
        if not nxt:
            break
        refs, prefix = nxt, _module_prefix(nxt[0])
        refs = [x[len(prefix):] if prefix and x.startswith(prefix) else x for x in refs]
    return out


def _tf_location(file: str, text: str, address: str) -> SourceLocation:
    return SourceLocation(file=file, line=line_of(text, rf'"address"\s*:\s*"{re.escape(address)}"'), address=address)


def from_terraform(doc: Mapping[str, Any], *, file: str, text: str, where: Where) -> Plan:
    resources = list(_tf_resources((doc.get("planned_values") or {}).get("root_module")))
    changes = {str(c.get("address")): c for c in doc.get("resource_changes") or [] if isinstance(c, Mapping)}
    config: dict[str, Mapping[str, Any]] = {}
    calls: dict[str, Mapping[str, Any]] = {}
    _tf_config((doc.get("configuration") or {}).get("root_module"), "", config, calls)
    clusters = [r for r in resources if r.get("type") == "azurerm_kubernetes_cluster"]
    pools = [r for r in resources if r.get("type") == "azurerm_kubernetes_cluster_node_pool"]
    if not clusters and not pools:
        raise PlanInputError("the Terraform plan has no azurerm_kubernetes_cluster or "
                             "azurerm_kubernetes_cluster_node_pool in planned_values")
    unresolved: list[UnresolvedValue] = []
    sub = _tf_subscription(doc, where)
    related: dict[str, dict[str, Any]] = {}
    by_address = {str(r.get("address")): r for r in resources}

    def unknowns(address: str) -> None:
        change = (changes.get(address) or {}).get("change") or {}
        for p in _unknown_paths(change.get("after_unknown"), address):
            if not p.endswith(".id"):
                unresolved.append(UnresolvedValue(path=p, reason="known only after apply"))

    def subnet_from_refs(address: str, *path: str) -> str | None:
        """A subnet planned in the same plan: its id and planned body (address prefixes)."""
        for ref in _tf_refs(config, calls, address, *path):
            target = by_address.get(ref.removesuffix(".id"))
            if target is None or target.get("type") != "azurerm_subnet":
                continue
            v = target.get("values") or {}
            if not (sub and v.get("resource_group_name") and v.get("virtual_network_name") and v.get("name")):
                continue
            sid = (f"/subscriptions/{sub}/resourceGroups/{v['resource_group_name']}/providers/Microsoft.Network/"
                   f"virtualNetworks/{v['virtual_network_name']}/subnets/{v['name']}")
            prefixes = list(v.get("address_prefixes") or [])
            related[sid] = {"id": sid, "name": v["name"], "properties": {
                "addressPrefixes": prefixes, **({"addressPrefix": prefixes[0]} if len(prefixes) == 1 else {})}}
            return sid
        return None

    locations: dict[str, SourceLocation] = {}
    cluster_id = ""
    cluster_body: dict[str, Any] | None = None
    if clusters:
        c = clusters[0]
        address = str(c.get("address"))
        v = c.get("values") or {}
        rid = armid.clean(v.get("id"))
        if rid is None:
            if not (sub and v.get("resource_group_name") and v.get("name")):
                raise PlanInputError(f"{address}: the cluster's subscription is unknown (no azurerm "
                                     "subscription_id in the plan): pass --subscription ID")
            rid = (f"/subscriptions/{sub}/resourceGroups/{v['resource_group_name']}/providers/"
                   f"Microsoft.ContainerService/managedClusters/{v['name']}")
        cluster_id = rid
        cluster_body = _tf_cluster(v, rid)
        pool0 = cluster_body["properties"]["agentPoolProfiles"][0]
        if "vnetSubnetID" not in pool0:
            sid = subnet_from_refs(address, "default_node_pool", "vnet_subnet_id")
            if sid:
                pool0["vnetSubnetID"] = sid
        api = cluster_body["properties"].get("apiServerAccessProfile") or {}
        if api.get("enableVnetIntegration") and "subnetId" not in api:
            sid = subnet_from_refs(address, "api_server_access_profile", "subnet_id")
            if sid:
                api["subnetId"] = sid
        unknowns(address)
        locations[rid.lower()] = _tf_location(file, text, address)
        for extra in clusters[1:]:
            unresolved.append(UnresolvedValue(path=str(extra.get("address")),
                                              reason="a second cluster in the plan was not checked"))
    pool_bodies: list[dict[str, Any]] = []
    for p in pools:
        address = str(p.get("address"))
        v = p.get("values") or {}
        parent = armid.clean(v.get("kubernetes_cluster_id")) or cluster_id
        if not parent:
            raise PlanInputError(f"{address}: kubernetes_cluster_id is unknown and the plan has no cluster")
        if cluster_id and not armid.same(parent, cluster_id):
            unresolved.append(UnresolvedValue(path=address, reason="node pool of another cluster: not checked"))
            continue
        cluster_id = parent
        props = _tf_pool(v, default=False)
        if "vnetSubnetID" not in props:
            sid = subnet_from_refs(address, "vnet_subnet_id")
            if sid:
                props["vnetSubnetID"] = sid
        name = str(v.get("name") or "")
        pid = f"{cluster_id}/agentPools/{name}"
        pool_bodies.append({"name": name, "id": pid, "properties": props})
        unknowns(address)
        locations[pid.lower()] = _tf_location(file, text, address)
    return Plan(source="terraform_plan", cluster_id=cluster_id, cluster_body=cluster_body,
                pool_bodies=tuple(pool_bodies), related_bodies=related, unresolved=tuple(unresolved),
                locations=locations)


def load(doc: Any, *, file: str, text: str, parameters: Any = None, where: Where | None = None) -> Plan:
    where = where or Where()
    kind = detect(doc)
    if kind == "arm_template":
        return from_template(doc, file=file, text=text, parameters=parameters, where=where)
    if parameters is not None:
        raise PlanInputError("--parameters applies to an ARM deployment template only")
    if kind == "terraform_plan":
        return from_terraform(doc, file=file, text=text, where=where)
    return from_resource(doc, file=file, text=text, where=where)


def as_json(doc: Any) -> str:
    return json.dumps(doc, indent=2)

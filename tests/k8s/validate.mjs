// Validates every document of rendered Kubernetes manifests (multi-document
// YAML files given as arguments) without a cluster:
//   1. against Kubernetes' schemas: kubernetes-models' validators, generated
//      from Kubernetes' published OpenAPI (types, required fields, enums,
//      formats), and @kubernetes-models/prometheus-operator's for the
//      monitoring.coreos.com kinds;
//   2. for fields Kubernetes does not know (a typo like `readinesProbe` passes
//      the schemas above, which allow extra properties; the API server would
//      drop it silently): every key is checked against the field lists of
//      @kubernetes/client-node's models, generated from the same OpenAPI.
// Prints one line per document and exits 1 on any error.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import * as k8s from '@kubernetes/client-node';

const errors = [];

async function modelClass(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const path = group === 'monitoring.coreos.com'
    ? `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`
    : `kubernetes-models/${group ? group + '/' : ''}${version}/${kind}`;
  try {
    const m = await import(path);
    return m[kind];
  } catch {
    return null;
  }
}

// Unknown keys, by client-node's attribute maps. type: a model class name,
// 'Array<T>', '{ [key: string]: T; }' or a primitive.
function unknownFields(value, type, where, out) {
  if (value === null || value === undefined) return;
  let m = /^Array<(.+)>$/.exec(type);
  if (m) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, m[1], `${where}[${i}]`, out));
    return;
  }
  m = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (m) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) unknownFields(v, m[1], `${where}.${k}`, out);
    return;
  }
  const cls = k8s[type];
  if (!cls || typeof cls.getAttributeTypeMap !== 'function' || typeof value !== 'object') return;
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!attrs.has(k)) out.push(`${where}.${k}: unknown field (not in ${type})`);
    else unknownFields(v, attrs.get(k), `${where}.${k}`, out);
  }
}

// References within one rendered file: Secrets and keys, ConfigMaps,
// named container ports of probes, Services that select some pod.
function references(file, objs, out) {
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const secrets = new Map(byKind('Secret').map((s) => [s.metadata.name, s]));
  const maps = new Set(byKind('ConfigMap').map((c) => c.metadata.name));
  const pods = [...byKind('Deployment'), ...byKind('DaemonSet')];
  for (const w of pods) {
    const spec = w.spec.template.spec;
    const id = `${file}: ${w.kind}/${w.metadata.name}`;
    for (const v of spec.volumes || [])
      if (v.configMap && !maps.has(v.configMap.name)) out.push(`${id}: no ConfigMap ${v.configMap.name}`);
    for (const c of spec.containers) {
      for (const e of c.env || []) {
        const r = e.valueFrom?.secretKeyRef;
        if (!r) continue;
        const s = secrets.get(r.name);
        const keys = s ? Object.keys({ ...(s.data || {}), ...(s.stringData || {}) }) : [];
        if (!s && !r.optional) out.push(`${id}: container ${c.name}: no Secret ${r.name}`);
        else if (s && !keys.includes(r.key)) out.push(`${id}: Secret ${r.name} has no key ${r.key}`);
      }
      const ports = new Set((c.ports || []).map((p) => p.name));
      for (const probe of [c.readinessProbe, c.livenessProbe])
        if (probe?.httpGet && typeof probe.httpGet.port === 'string' && !ports.has(probe.httpGet.port))
          out.push(`${id}: container ${c.name}: probe port ${probe.httpGet.port} is not a port of it`);
    }
  }
  for (const svc of byKind('Service')) {
    const sel = svc.spec.selector || {};
    const hit = pods.some((w) => Object.entries(sel).every(([k, v]) => w.spec.template.metadata.labels?.[k] === v));
    if (!hit) out.push(`${file}: Service/${svc.metadata.name} selects no pod template`);
  }
}

let docs = 0;
for (const file of process.argv.slice(2)) {
  const objs = [];
  for (const d of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (d.errors.length) {
      errors.push(`${file}: YAML: ${d.errors[0].message}`);
      continue;
    }
    const obj = d.toJS();
    if (!obj) continue;
    docs++;
    objs.push(obj);
    const id = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    const cls = obj.apiVersion && obj.kind ? await modelClass(obj.apiVersion, obj.kind) : null;
    if (!cls) {
      errors.push(`${id}: no schema for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    const problems = [];
    try {
      new cls(obj).validate();
    } catch (e) {
      problems.push(e.message);
    }
    const [, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
    const typeName = version.charAt(0).toUpperCase() + version.slice(1) + obj.kind;
    if (k8s[typeName]) unknownFields(obj, typeName, obj.kind, problems);
    console.log(`${problems.length ? 'FAIL' : 'ok  '} ${id}`);
    for (const p of problems) errors.push(`${id}: ${p}`);
  }
  references(file, objs, errors);
}
if (!docs) errors.push('no documents');
for (const e of errors) console.error(`error: ${e}`);
console.log(`${docs} documents, ${errors.length} errors`);
process.exit(errors.length ? 1 : 0);

// JSON schemas for kubeconform, made offline from Kubernetes' own OpenAPI document (api/openapi-spec/swagger.json of
// the k8s.io/kubernetes module, which scripts/setup-kubeconform.sh fetches through the Go module proxy). kubeconform's
// stock schemas (yannh/kubernetes-json-schema) are downloaded from GitHub at run time, which is out of reach here.
// Hand-written because the generator those schemas come from (openapi2jsonschema) is a Python tool that is not
// packaged; this does what its --strict --standalone mode does for the kinds deploy/ uses: one file per kind, named
// as kubeconform's -schema-location template {{ .ResourceKind }}{{ .KindSuffix }} expects, holding the kind's
// definition and every definition it refers to, objects closed (additionalProperties: false, as kubeconform -strict
// wants), and int-or-string and Quantity fields accepting numbers as the API server does.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

type Schema = Record<string, unknown>;
interface Swagger {
  definitions: Record<string, Schema & { 'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[] }>;
}

const REF = '#/definitions/';

function refsOf(node: unknown, into: Set<string>): void {
  if (Array.isArray(node)) for (const x of node) refsOf(x, into);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith(REF)) into.add(v.slice(REF.length));
      else refsOf(v, into);
    }
  }
}

/** The openapi2jsonschema rewrites: closed objects, int-or-string, Quantity as string or number. */
function rewrite(node: unknown, name?: string): unknown {
  if (Array.isArray(node)) return node.map((x) => rewrite(x));
  if (node === null || typeof node !== 'object') return node;
  const s = node as Schema;
  if (name === 'io.k8s.apimachinery.pkg.api.resource.Quantity') return { description: s.description, oneOf: [{ type: 'string' }, { type: 'number' }] };
  if (s.format === 'int-or-string') return { description: s.description, oneOf: [{ type: 'string' }, { type: 'integer' }] };
  const out: Schema = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'properties' ? Object.fromEntries(Object.entries(v as Schema).map(([p, ps]) => [p, rewrite(ps)])) : rewrite(v)]));
  if (out.type === 'object' && out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/** Writes <kind>[-<group>]-<version>.json for each kind the document defines; returns how many. */
export function writeKubeconformSchemas(openapiFile: string, outDir: string, kinds: readonly string[]): string[] {
  const doc = JSON.parse(readFileSync(openapiFile, 'utf8')) as Swagger;
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  for (const [name, def] of Object.entries(doc.definitions)) {
    for (const gvk of def['x-kubernetes-group-version-kind'] ?? []) {
      if (!kinds.includes(gvk.kind)) continue;
      const closure = new Set<string>([name]);
      for (let grew = true; grew; ) {
        const before = closure.size;
        for (const n of [...closure]) refsOf(doc.definitions[n], closure);
        grew = closure.size > before;
      }
      const definitions = Object.fromEntries([...closure].map((n) => [n, rewrite(doc.definitions[n], n)]));
      const group = gvk.group === '' ? '' : `-${gvk.group.split('.')[0] as string}`;
      const file = path.join(outDir, `${gvk.kind.toLowerCase()}${group}-${gvk.version}.json`);
      writeFileSync(file, JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', $ref: `${REF}${name}`, definitions }));
      written.push(path.basename(file));
    }
  }
  return written;
}

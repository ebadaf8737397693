// Parse and type-check a batch of KQL queries with Microsoft's Kusto.Language compiled to JS
// (@kusto/language-service-next), against tables declared by the caller.
//
// stdin:  {"tables": [{"name": "T", "columns": [{"name": "c", "type": "string"}, ...]}, ...],
//          "queries": [{"id": "...", "query": "..."}, ...]}
// stdout: [{"id": "...", "diagnostics": [{"severity", "code", "message", "start", "length", "text"}],
//           "columns": ["name:type", ...]}, ...]
// Exit 0 when every query was analysed (diagnostics or not); 2 on bad input.
'use strict';

const path = require('path');

function loadKusto() {
  // Resolve from the repo root (tests/infra/../../node_modules) or NODE_PATH.
  const roots = [path.resolve(__dirname, '..', '..'), process.cwd()];
  for (const root of roots) {
    try {
      require(require.resolve('@kusto/language-service-next/bridge.js', { paths: [root] }));
      require(require.resolve('@kusto/language-service-next/Kusto.Language.Bridge.js', { paths: [root] }));
      return global.Kusto.Language;
    } catch (err) {
      if (err.code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  throw new Error('@kusto/language-service-next is not installed (run npm install at the repo root)');
}

// Log Analytics / DCR column types -> Kusto scalar type names.
const TYPES = {
  string: 'string', datetime: 'datetime', int: 'int', long: 'long', real: 'real',
  boolean: 'bool', bool: 'bool', dynamic: 'dynamic', guid: 'guid', timespan: 'timespan',
};

function toArray(list) {
  const out = [];
  for (let i = 0; i < list.Count; i++) out.push(list.getItem(i));
  return out;
}

function main(input) {
  const K = loadKusto();
  const tables = input.tables.map((t) => {
    const cols = t.columns.map((c) => {
      const kt = TYPES[String(c.type).toLowerCase()];
      if (!kt) throw new Error(`table ${t.name}: column ${c.name}: unknown type ${c.type}`);
      return `['${c.name}']:${kt}`;
    });
    return new K.Symbols.TableSymbol.$ctor7(t.name, `(${cols.join(', ')})`, null);
  });
  const globals = K.GlobalState.Default.WithDatabase(new K.Symbols.DatabaseSymbol.ctor('workspace', tables));
  return input.queries.map(({ id, query }) => {
    const code = K.KustoCode.ParseAndAnalyze(query, globals);
    const diagnostics = toArray(code.GetDiagnostics()).map((d) => ({
      severity: d.Severity,
      code: d.Code,
      message: d.Message,
      start: d.Start,
      length: d.Length,
      text: query.substr(d.Start, Math.max(d.Length, 1)),
    }));
    const result = code.ResultType;
    const columns = result && result.Columns ? toArray(result.Columns).map((c) => `${c.Name}:${c.Type.Name}`) : [];
    return { id, diagnostics, columns };
  });
}

let raw = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { raw += chunk; });
process.stdin.on('end', () => {
  let input;
  try {
    input = JSON.parse(raw);
  } catch (err) {
    process.stderr.write(`kql_check: stdin is not JSON: ${err.message}\n`);
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(main(input)));
});

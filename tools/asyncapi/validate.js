// Validates an AsyncAPI document with the official parser (@asyncapi/parser)
// and exits non-zero on any error or warning. Used by
// scripts/validate-asyncapi.sh, which `make test` runs.
//
//   node validate.js ../../docs/asyncapi.yaml
'use strict';

const path = require('path');
const { Parser, fromFile, DiagnosticSeverity } = require('@asyncapi/parser');

// Diagnostics at or above this severity fail the check: errors and
// warnings. Information and hints are printed only.
const FAIL_AT = DiagnosticSeverity.Warning;

const names = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node validate.js <asyncapi.yaml>');
    return 2;
  }
  const source = path.resolve(file);
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, source).parse();
  let failures = 0;
  for (const d of diagnostics) {
    const where = d.range ? `${d.source || source}:${d.range.start.line + 1}:${d.range.start.character + 1}` : source;
    const at = d.path && d.path.length ? ` (at ${d.path.join('.')})` : '';
    console.error(`${where}: ${names[d.severity] || d.severity}: ${d.code}: ${d.message}${at}`);
    if (d.severity <= FAIL_AT) {
      failures++;
    }
  }
  if (!document || failures > 0) {
    console.error(`${file}: ${failures} error(s) or warning(s)`);
    return 1;
  }
  const channels = document.channels().all().map((c) => c.address());
  const messages = document.allMessages().all().length;
  console.log(`${file}: valid AsyncAPI ${document.version()} (${channels.length} channels: ${channels.join(', ')}; ${messages} messages)`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  },
);

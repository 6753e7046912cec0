import type { DockerfileAst, Node } from '../ast.js';
import { parseDockerfile } from './parse.js';

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const SHORT_ESCAPES: Record<string, string> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '"': '\\"',
  '\\': '\\\\',
};

/** Quotes a string the way Go's strconv.Quote does (the format of BuildKit's result files). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const short = SHORT_ESCAPES[ch];
    if (short) out += short;
    else if (ch >= ' ' && ch < '\x7f') out += ch;
    else if (PRINTABLE.test(ch)) out += ch;
    else {
      const cp = ch.codePointAt(0)!;
      if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd';
      else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, '0')}`;
      else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
      else out += `\\U${cp.toString(16).padStart(8, '0')}`;
    }
  }
  return `${out}"`;
}

function dumpNode(node: Node): string {
  let str = node.value;
  if (node.flags.length > 0) str += ` [${node.flags.map(goQuote).join(' ')}]`;
  if (node.subcommand) str += ` (${dumpNode(node.subcommand)})`;
  for (const arg of node.args) str += ` ${goQuote(arg)}`;
  return str.trim();
}

/**
 * dumpAst prints the AST as BuildKit's parser tests do: one `(keyword [flags] "arg" …)`
 * line per instruction, arguments quoted like Go's strconv.Quote, ending with a newline.
 */
export function dumpAst(textOrAst: string | DockerfileAst): string {
  const ast = typeof textOrAst === 'string' ? parseDockerfile(textOrAst, { skipChecks: true }) : textOrAst;
  let out = '';
  for (const child of ast.children) out += `(${dumpNode(child)})\n`;
  return out;
}

import type { DockerfileAst, Heredoc, Node, ParseOptions, SourceRange, Warning } from '../ast.js';
import { rules } from '../checks/rules.js';
import { DockerfileError, withLocation } from '../errors.js';
import { isSpaceCode, parseArguments, splitCommand } from './arguments.js';
import { DirectiveScanner } from './directives.js';
import { heredocsFromLine } from './heredoc.js';

/** BufIO's default maximum token size, which bounds a physical line in BuildKit. */
const MAX_LINE_BYTES = 64 * 1024;

/** UTF-8 length of text[from, to) plus one for the newline. */
function utf8Length(text: string, from: number, to: number): number {
  let n = 1;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    // A surrogate pair is 4 bytes: 2 per UTF-16 unit.
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdfff ? 2 : 3;
  }
  return n;
}

/** ONBUILD ONBUILD … is rejected when typed; the parser only bounds its recursion. */
const MAX_ONBUILD_DEPTH = 16;
const HEREDOC_KEYWORDS = new Set(['run', 'copy', 'add']);

/**
 * One pass over the text: `pos` walks physical lines with indexOf('\n'); each logical line is
 * assembled from slices, then split by its instruction's argument rule.
 */
class Parser {
  private pos = 0;
  private lineNo = 0;
  private lineStart = 0;
  private lineEnd = 0;
  private readonly directives = new DirectiveScanner();
  private readonly children: Node[] = [];
  private readonly warnings: Warning[] = [];

  constructor(private readonly text: string) {}

  /** Advances to the next physical line; its content (without \r\n) is [lineStart, lineEnd). */
  private nextLine(): boolean {
    const text = this.text;
    if (this.pos >= text.length) return false;
    const start = this.pos;
    let nl = text.indexOf('\n', start);
    if (nl < 0) nl = text.length;
    this.pos = nl + 1;
    let end = nl;
    while (end > start && (text.charCodeAt(end - 1) === 13 || text.charCodeAt(end - 1) === 10)) end--;
    this.lineStart = start;
    this.lineEnd = end;
    this.lineNo++;
    // BuildKit's line scanner refuses lines of 64 KiB or more (UTF-8 bytes, newline included).
    if (nl - start >= MAX_LINE_BYTES / 3 && utf8Length(text, start, nl) >= MAX_LINE_BYTES) {
      throw new DockerfileError(
        'LINE_TOO_LONG',
        `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES - 1}`,
        { line: this.lineNo, column: 1 },
      );
    }
    return true;
  }

  /** End index of the line without a trailing continuation escape, and whether there was one. */
  private continuation(from: number, to: number, esc: number): [number, boolean] {
    const text = this.text;
    let k = to;
    while (k > from && (text.charCodeAt(k - 1) === 32 || text.charCodeAt(k - 1) === 9)) k--;
    if (k > from && text.charCodeAt(k - 1) === esc && (k - 1 === from || text.charCodeAt(k - 2) !== esc)) {
      return [k - 1, true];
    }
    return [to, false];
  }

  parse(): DockerfileAst {
    const text = this.text;
    let comments: string[] = [];
    while (this.nextLine()) {
      const s = this.lineStart;
      const e = this.lineEnd;
      let f = s;
      while (f < e && isSpaceCode(text.charCodeAt(f))) f++;
      const isComment = f < e && text.charCodeAt(f) === 35;
      if (!this.directives.done) this.directives.scan(text.slice(f, e), this.lineNo, f - s + 1);
      if (isComment) {
        comments.push(text.slice(f + 1, e).trim());
        continue;
      }
      if (f === e) continue;
      const esc = this.directives.escape.charCodeAt(0);
      const startLine = this.lineNo;
      const startColumn = f - s + 1;
      let [ce, more] = this.continuation(f, e, esc);
      let line = text.slice(f, ce);
      let emptyContinuation = false;
      while (more && this.nextLine()) {
        const ls = this.lineStart;
        const le = this.lineEnd;
        let g = ls;
        while (g < le && isSpaceCode(text.charCodeAt(g))) g++;
        if (g < le && text.charCodeAt(g) === 35) continue;
        if (g === le) {
          emptyContinuation = true;
          continue;
        }
        [ce, more] = this.continuation(ls, le, esc);
        line += text.slice(ls, ce);
      }
      const where = { line: startLine, column: startColumn };
      const node = this.nodeFromLine(line, where);
      node.comments = comments;
      comments = [];
      const heredocHost = node.value === 'onbuild' ? node.subcommand : node;
      if (
        heredocHost &&
        HEREDOC_KEYWORDS.has(heredocHost.value) &&
        !heredocHost.json &&
        line.includes('<<')
      ) {
        const headers = withLocation(() => heredocsFromLine(line), {
          start: where,
          end: { line: startLine },
        });
        for (const header of headers) node.heredocs.push(this.readHeredoc(header, startLine));
        if (heredocHost !== node) heredocHost.heredocs = node.heredocs;
      }
      node.range = {
        start: where,
        end: { line: this.lineNo, column: this.lineEnd - this.lineStart + 1 },
      };
      if (node.subcommand) node.subcommand.range = node.range;
      if (emptyContinuation) {
        this.warnings.push({
          rule: rules.NoEmptyContinuation.name,
          message: rules.NoEmptyContinuation.format(),
          url: rules.NoEmptyContinuation.url,
          range: node.range,
        });
      }
      this.children.push(node);
    }
    if (this.children.length === 0) {
      throw new DockerfileError('EMPTY_DOCKERFILE', 'file with no instructions', {
        line: Math.max(this.lineNo, 1),
        column: 1,
      });
    }
    return {
      directives: this.directives.found,
      escapeToken: this.directives.escape,
      children: this.children,
      warnings: this.warnings,
    };
  }

  private nodeFromLine(line: string, where: { line: number; column: number }, depth = 0): Node {
    const { keyword, flags, rest } = splitCommand(line);
    const value = keyword.toLowerCase();
    const node: Node = {
      value,
      keyword,
      original: line,
      flags,
      args: [],
      json: false,
      heredocs: [],
      comments: [],
      range: EMPTY_RANGE,
    };
    if (value === 'onbuild') {
      if (depth >= MAX_ONBUILD_DEPTH) {
        throw new DockerfileError(
          'INVALID_ONBUILD',
          `ONBUILD nested more than ${MAX_ONBUILD_DEPTH} levels`,
          where,
        );
      }
      if (rest !== '') node.subcommand = this.nodeFromLine(rest, where, depth + 1);
      return node;
    }
    const parsed = parseArguments(value, rest, this.directives.escape, where);
    node.args = parsed.args;
    node.json = parsed.json;
    return node;
  }

  private readHeredoc(header: ReturnType<typeof heredocsFromLine>[number], startLine: number): Heredoc {
    const text = this.text;
    const bodyStart = this.lineNo + 1;
    let content = '';
    while (this.nextLine()) {
      let a = this.lineStart;
      const b = this.lineEnd;
      if (header.chomp) while (a < b && text.charCodeAt(a) === 9) a++;
      if (b - a === header.name.length && text.startsWith(header.name, a)) {
        return {
          ...header,
          content,
          range: {
            start: { line: bodyStart, column: 1 },
            end: { line: this.lineNo, column: b - this.lineStart + 1 },
          },
        };
      }
      const nl = Math.min(this.pos, text.length);
      content += text.slice(this.lineStart, nl);
    }
    throw new DockerfileError('UNTERMINATED_HEREDOC', `unterminated heredoc <<${header.name}`, {
      line: startLine,
      column: 1,
      endLine: this.lineNo,
    });
  }
}

const EMPTY_RANGE: SourceRange = { start: { line: 0, column: 0 }, end: { line: 0, column: 0 } };

/**
 * parseDockerfile turns Dockerfile text into an AST the way BuildKit's parser does: parser
 * directives at the top, `\` or backtick continuations (comment lines inside are dropped,
 * blank ones warned about), JSON or shell form per instruction, heredocs for RUN/COPY/ADD.
 * Unknown instructions are kept (the planner rejects them). Throws DockerfileError only.
 */
export function parseDockerfile(text: string, opts: ParseOptions = {}): DockerfileAst {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const ast = new Parser(body).parse();
  if (opts.skipChecks) ast.warnings = [];
  return ast;
}

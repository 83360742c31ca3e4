/**
 * Layering lint over src/: parses every module with the TypeScript parser, builds the import graph (static imports
 * and re-exports, `import type`, `import('...')`, and worker scripts named by `new URL('...', import.meta.url)`),
 * and checks the layer rules of STYLE.md, the absence of import cycles and the clock rule. Each checker is a pure
 * function over a graph or a source text, first run on synthetic inputs that must fail, so a checker that can no
 * longer find anything does not pass silently.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'
import ts from 'typescript'

const SRC = resolve(import.meta.dirname, '../src')

// ---- parsing ----

type ImportKind = 'static' | 'dynamic' | 'worker'
interface ImportRef {
  specifier: string
  kind: ImportKind
  line: number
}

function sourceFile(fileName: string, text: string): ts.SourceFile {
  return ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
}

function lineOf(sf: ts.SourceFile, node: ts.Node): number {
  return sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1
}

/** Every module reference in `text`. A dynamic import of a non-literal is returned with specifier `<non-literal>`. */
function parseImports(fileName: string, text: string): ImportRef[] {
  const sf = sourceFile(fileName, text)
  const out: ImportRef[] = []
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined) {
      if (ts.isStringLiteral(node.moduleSpecifier)) out.push({ specifier: node.moduleSpecifier.text, kind: 'static', line: lineOf(sf, node) })
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const expr = node.moduleReference.expression
      if (ts.isStringLiteral(expr)) out.push({ specifier: expr.text, kind: 'static', line: lineOf(sf, node) })
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal)) out.push({ specifier: arg.literal.text, kind: 'static', line: lineOf(sf, node) })
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0]
      const specifier = arg !== undefined && ts.isStringLiteralLike(arg) ? arg.text : '<non-literal>'
      out.push({ specifier, kind: 'dynamic', line: lineOf(sf, node) })
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'URL') {
      const [target, base] = node.arguments ?? []
      if (target !== undefined && ts.isStringLiteralLike(target) && /\.[cm]?[jt]s$/.test(target.text) && base?.getText(sf) === 'import.meta.url') {
        out.push({ specifier: target.text, kind: 'worker', line: lineOf(sf, node) })
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return out
}

/** Lines that read the wall clock: `Date.now()`, `new Date()` / `new Date` without arguments, `Date()`. */
function clockReads(fileName: string, text: string): { line: number; code: string }[] {
  const sf = sourceFile(fileName, text)
  const out: { line: number; code: string }[] = []
  const isDate = (e: ts.Expression): boolean =>
    (ts.isIdentifier(e) && e.text === 'Date') || (ts.isPropertyAccessExpression(e) && e.name.text === 'Date')
  const visit = (node: ts.Node): void => {
    const reads =
      (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'now' && isDate(node.expression.expression)) ||
      (ts.isNewExpression(node) && isDate(node.expression) && (node.arguments === undefined || node.arguments.length === 0)) ||
      (ts.isCallExpression(node) && isDate(node.expression) && node.arguments.length === 0)
    if (reads) out.push({ line: lineOf(sf, node), code: node.getText(sf) })
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return out
}

// ---- the graph ----

interface ModuleInfo {
  /** src-relative paths of the modules it imports (static, type-only and dynamic). */
  imports: string[]
  /** Modules it starts as worker scripts: part of its layer's reach, not of the import graph. */
  workers: string[]
  /** Package names (`level`, `@noble/ciphers`, `node:fs`). */
  packages: string[]
  /** References this lint cannot check: unresolved relative paths, non-literal dynamic imports. */
  unchecked: string[]
}
type Graph = Map<string, ModuleInfo>

function packageName(specifier: string): string {
  if (specifier.startsWith('node:')) return specifier
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))
    .map((p) => p.split('\\').join('/'))
    .sort()
}

function buildGraph(srcDir: string): Graph {
  const files = listTs(srcDir)
  const known = new Set(files)
  const graph: Graph = new Map()
  for (const file of files) {
    const info: ModuleInfo = { imports: [], workers: [], packages: [], unchecked: [] }
    for (const ref of parseImports(file, readFileSync(join(srcDir, file), 'utf8'))) {
      if (ref.specifier === '<non-literal>') {
        info.unchecked.push(`${file}:${ref.line}: import() of a non-literal`)
      } else if (ref.specifier.startsWith('.')) {
        const target = relative(srcDir, resolve(srcDir, dirname(file), ref.specifier.replace(/\.([cm]?)js$/, '.$1ts'))).split('\\').join('/')
        if (!known.has(target)) info.unchecked.push(`${file}:${ref.line}: "${ref.specifier}" resolves to no file in src/`)
        else (ref.kind === 'worker' ? info.workers : info.imports).push(target)
      } else if (ref.kind !== 'worker') {
        info.packages.push(packageName(ref.specifier))
      }
    }
    graph.set(file, info)
  }
  return graph
}

const layerOf = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '')

/** Modules reachable from `start` (imports and workers), each with the chain that reaches it. */
function reach(graph: Graph, start: string): Map<string, string[]> {
  const chains = new Map<string, string[]>([[start, [start]]])
  const queue = [start]
  while (queue.length > 0) {
    const file = queue.shift()!
    const info = graph.get(file)
    if (info === undefined) continue
    for (const next of [...info.imports, ...info.workers]) {
      if (chains.has(next)) continue
      chains.set(next, [...chains.get(file)!, next])
      queue.push(next)
    }
  }
  return chains
}

/** One cycle per strongly connected component of the import graph (workers excluded), as a closed path. */
function findCycles(graph: Graph): string[][] {
  let counter = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const components: string[][] = []
  const edges = (file: string) => (graph.get(file)?.imports ?? []).filter((f) => graph.has(f))
  const strongConnect = (v: string): void => {
    index.set(v, counter)
    low.set(v, counter++)
    stack.push(v)
    onStack.add(v)
    for (const w of edges(v)) {
      if (!index.has(w)) {
        strongConnect(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!))
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1 || edges(v).includes(v)) components.push(component)
    }
  }
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) strongConnect(v)
  return components.map((component) => {
    const members = new Set(component)
    const start = [...component].sort()[0]
    // Shortest path from start back to start, inside the component.
    const parent = new Map<string, string>()
    const queue = [start]
    while (queue.length > 0) {
      const v = queue.shift()!
      for (const w of edges(v)) {
        if (!members.has(w) || parent.has(w)) continue
        parent.set(w, v)
        if (w === start) queue.length = 0
        else queue.push(w)
      }
    }
    const path = [start]
    for (let v = parent.get(start)!; v !== start; v = parent.get(v)!) path.unshift(v)
    return [start, ...path]
  })
}

const NODE_FORBIDDEN_LAYERS = ['dedup', 'repo', 'cli', 'agent']
const PROTOCOL_PACKAGES = ['compact-encoding', 'b4a']
const NODE_FORBIDDEN_PACKAGES = ['blake3', '@noble/ciphers', 'zstd-napi']
/** Modules of core/ that node/ must not reach either: the native addon computes keyed hashes. */
const NODE_FORBIDDEN_MODULES = ['core/native-addon.ts']

/** Every layer rule broken by `graph`, as readable lines. */
function layerViolations(graph: Graph): string[] {
  const out: string[] = []
  const direct = (file: string, allowed: string[], allowPackage: (p: string) => boolean, rule: string) => {
    const info = graph.get(file)!
    for (const target of [...info.imports, ...info.workers]) {
      if (!allowed.includes(layerOf(target))) out.push(`${file} imports ${target}: ${rule}`)
    }
    for (const p of info.packages) if (!allowPackage(p)) out.push(`${file} imports package "${p}": ${rule}`)
  }
  /** node/ reaches a forbidden module through many of its files: report the shortest chain to each. */
  const nodeChains = new Map<string, string>()
  const nodeReach = (target: string, chain: string[], rule: string) => {
    const line = `${chain.join(' -> ')}: ${rule}`
    const known = nodeChains.get(target)
    if (known === undefined || known.split(' -> ').length > chain.length) nodeChains.set(target, line)
  }
  for (const [file, info] of graph) {
    out.push(...info.unchecked)
    const layer = layerOf(file)
    if (layer === 'node') {
      for (const [target, chain] of reach(graph, file)) {
        if (NODE_FORBIDDEN_LAYERS.includes(layerOf(target))) nodeReach(target, chain, `node/ must not reach ${layerOf(target)}/`)
        if (NODE_FORBIDDEN_MODULES.includes(target)) nodeReach(target, chain, 'node/ must not reach the native addon (keyed hashing)')
        for (const p of graph.get(target)?.packages ?? []) {
          if (NODE_FORBIDDEN_PACKAGES.includes(p)) nodeReach(`"${p}"`, [...chain, `"${p}"`], 'node/ must not reach key material or codecs')
        }
      }
    } else if (layer === 'dedup') {
      direct(file, ['core', 'dedup'], () => true, 'dedup/ imports only core/ and packages')
    } else if (layer === 'protocol') {
      direct(file, ['core', 'protocol'], (p) => p.startsWith('node:') || PROTOCOL_PACKAGES.includes(p), 'protocol/ imports only core/ and itself (and node: builtins and codec packages)')
    } else if (layer === 'transport') {
      direct(file, ['core', 'protocol', 'transport'], () => true, 'transport/ imports only core/, protocol/ and packages')
    } else if (layer === 'agent') {
      for (const [target, chain] of reach(graph, file)) {
        if (['node', 'cli'].includes(layerOf(target))) out.push(`${chain.join(' -> ')}: agent/ must not reach ${layerOf(target)}/`)
      }
    } else if (layer === 'mail') {
      direct(file, ['core', 'mail'], () => true, 'mail/ imports only core/ and packages')
    } else if (layer === 'schedule') {
      direct(file, ['core', 'schedule'], (p) => !p.startsWith('node:'), 'schedule/ imports only core/ and packages (no node: builtins)')
    } else if (layer === 'core') {
      direct(file, ['core'], () => true, 'core/ imports nothing of Arca')
    } else if (layer === 'repo') {
      for (const [target, chain] of reach(graph, file)) {
        if (['node', 'cli'].includes(layerOf(target))) out.push(`${chain.join(' -> ')}: repo/ must not reach ${layerOf(target)}/`)
      }
    }
  }
  out.push(...nodeChains.values())
  return [...new Set(out)].sort()
}

// ---- the checkers fail on synthetic inputs ----

function graphOf(edges: Record<string, string[]>, packages: Record<string, string[]> = {}): Graph {
  const graph: Graph = new Map()
  for (const [file, imports] of Object.entries(edges)) {
    graph.set(file, { imports, workers: [], packages: packages[file] ?? [], unchecked: [] })
  }
  return graph
}

t.test('parseImports finds every kind of module reference, and nothing in comments or strings', async (t) => {
  const text = [
    "import a from './a.js'",
    "import type { T } from '../t.js'",
    "export * from './e.js'",
    "export { x } from 'pkg/sub'",
    "import './side.js'",
    "const m = await import('./dyn.js')",
    "const n = await import(name)",
    "type X = typeof import('./type-only.js')",
    "// import c from './comment.js'",
    "const s = \"import d from './string.js'\"",
    "const w = new URL('./worker.js', import.meta.url)",
    "const asset = new URL('./table.wasm', import.meta.url)",
  ].join('\n')
  t.same(
    parseImports('x.ts', text).map((r) => `${r.line} ${r.kind} ${r.specifier}`),
    [
      '1 static ./a.js',
      '2 static ../t.js',
      '3 static ./e.js',
      '4 static pkg/sub',
      '5 static ./side.js',
      '6 dynamic ./dyn.js',
      '7 dynamic <non-literal>',
      '8 static ./type-only.js',
      '11 worker ./worker.js',
    ],
  )
})

t.test('clockReads flags wall-clock reads only', async (t) => {
  const text = [
    'const a = Date.now()',
    'const b = new Date()',
    'const c = new Date',
    'const d = new Date(0)',
    'const e = clock.now()',
    '// Date.now() in a comment',
    "const f = 'new Date()'",
    'const g = globalThis.Date.now()',
    'const h = Date()',
    'const i = Date.parse("2020-01-01")',
  ].join('\n')
  t.same(clockReads('x.ts', text).map((r) => `${r.line} ${r.code}`), ['1 Date.now()', '2 new Date()', '3 new Date', '8 globalThis.Date.now()', '9 Date()'])
})

t.test('findCycles reports a cycle, a self-import, and nothing for a DAG', async (t) => {
  t.same(findCycles(graphOf({ 'a.ts': ['b.ts'], 'b.ts': ['c.ts'], 'c.ts': ['a.ts', 'd.ts'], 'd.ts': [] })), [['a.ts', 'b.ts', 'c.ts', 'a.ts']])
  t.same(findCycles(graphOf({ 'x.ts': ['x.ts'] })), [['x.ts', 'x.ts']])
  t.same(findCycles(graphOf({ 'a.ts': ['b.ts', 'c.ts'], 'b.ts': ['c.ts'], 'c.ts': [] })), [])
})

t.test('layerViolations reports each rule on a graph that breaks it', async (t) => {
  const graph = graphOf(
    {
      'node/store.ts': ['protocol/msg.ts'],
      'protocol/msg.ts': ['dedup/hash.ts'],
      'dedup/hash.ts': ['repo/tree.ts'],
      'repo/tree.ts': ['cli/main.ts'],
      'cli/main.ts': [],
      'core/errors.ts': ['protocol/msg.ts'],
      'node/codec.ts': ['core/native-addon.ts'],
      'core/native-addon.ts': [],
    },
    { 'node/codec.ts': ['zstd-napi'], 'protocol/msg.ts': ['level'] },
  )
  const found = layerViolations(graph)
  const expectations = [
    'node/store.ts -> protocol/msg.ts -> dedup/hash.ts: node/ must not reach dedup/',
    'node/store.ts -> protocol/msg.ts -> dedup/hash.ts -> repo/tree.ts: node/ must not reach repo/',
    'node/store.ts -> protocol/msg.ts -> dedup/hash.ts -> repo/tree.ts -> cli/main.ts: node/ must not reach cli/',
    'node/codec.ts -> "zstd-napi": node/ must not reach key material or codecs',
    'node/codec.ts -> core/native-addon.ts: node/ must not reach the native addon (keyed hashing)',
    'dedup/hash.ts imports repo/tree.ts: dedup/ imports only core/ and packages',
    'protocol/msg.ts imports dedup/hash.ts: protocol/ imports only core/ and itself (and node: builtins and codec packages)',
    'protocol/msg.ts imports package "level": protocol/ imports only core/ and itself (and node: builtins and codec packages)',
    'core/errors.ts imports protocol/msg.ts: core/ imports nothing of Arca',
    'repo/tree.ts -> cli/main.ts: repo/ must not reach cli/',
  ]
  for (const line of expectations) t.ok(found.includes(line), line, { found })
  const roles = layerViolations(graphOf({
    'agent/remote.ts': ['node/service.ts'],
    'node/service.ts': [],
    'transport/tcp.ts': ['repo/tree.ts'],
    'repo/tree.ts': [],
    'node/daemon.ts': ['agent/pair.ts'],
    'agent/pair.ts': [],
    'schedule/next-run.ts': ['agent/pair.ts', 'core/clock.ts', 'schedule/cron.ts'],
    'schedule/cron.ts': [],
    'core/clock.ts': [],
    'mail/report-mail.ts': ['agent/run-report.ts', 'core/clock.ts', 'mail/mail-doc.ts'],
    'mail/mail-doc.ts': [],
    'mail/mailer.ts': [],
    'agent/run-report.ts': [],
  }, { 'schedule/cron.ts': ['node:timers', 'some-package'], 'mail/mailer.ts': ['nodemailer', 'node:fs'] }))
  t.same(roles, [
    'agent/remote.ts -> node/service.ts: agent/ must not reach node/',
    'mail/report-mail.ts imports agent/run-report.ts: mail/ imports only core/ and packages',
    'node/daemon.ts -> agent/pair.ts: node/ must not reach agent/',
    'schedule/cron.ts imports package "node:timers": schedule/ imports only core/ and packages (no node: builtins)',
    'schedule/next-run.ts imports agent/pair.ts: schedule/ imports only core/ and packages (no node: builtins)',
    'transport/tcp.ts imports repo/tree.ts: transport/ imports only core/, protocol/ and packages',
  ], 'agent/, mail/, transport/ and schedule/ rules')
  const worker = graphOf({ 'node/pool.ts': [], 'dedup/seal.ts': [] })
  worker.get('node/pool.ts')!.workers.push('dedup/seal.ts')
  t.same(layerViolations(worker), ['node/pool.ts -> dedup/seal.ts: node/ must not reach dedup/'], 'a worker script counts')
  t.same(layerViolations(graphOf({ 'node/a.ts': ['protocol/b.ts'], 'protocol/b.ts': ['core/c.ts'], 'core/c.ts': [] })), [], 'a clean graph')
})

// ---- the rules, on src/ ----

const graph = buildGraph(SRC)

t.test('the src/ graph is what the lint thinks it is', async (t) => {
  t.ok(graph.size >= 30, `parsed ${graph.size} modules`)
  t.ok(graph.get('node/local-store.ts')?.imports.includes('protocol/object-envelope.ts'), 'a known edge is found')
  t.ok(graph.get('dedup/blake3.ts')?.packages.includes('blake3'), 'a known package is found')
  // worker scripts would count as imports (checked above on a made-up graph); src/ starts none today
  t.same([...graph.values()].flatMap((m) => m.workers), [], 'no worker scripts in src/ (sealing runs on the native seal threads)')
})

t.test('layer rules hold in src/', async (t) => {
  const violations = layerViolations(graph)
  t.same(violations, [], violations.length === 0 ? 'no layer violations' : `layer violations: ${violations.join('; ')}`)
})

t.test('no import cycles in src/', async (t) => {
  const cycles = findCycles(graph).map((c) => c.join(' -> '))
  t.same(cycles, [], cycles.length === 0 ? 'no import cycles' : `import cycles: ${cycles.join('; ')}`)
})

t.test('only src/core/clock.ts reads the wall clock', async (t) => {
  const offenders: string[] = []
  for (const file of graph.keys()) {
    if (file === 'core/clock.ts') continue
    for (const r of clockReads(file, readFileSync(join(SRC, file), 'utf8'))) offenders.push(`src/${file}:${r.line}: ${r.code}`)
  }
  t.same(offenders, [], offenders.length === 0 ? 'no wall-clock reads' : `wall-clock reads outside src/core/clock.ts (take a Clock instead): ${offenders.join('; ')}`)
  t.same(clockReads('core/clock.ts', readFileSync(join(SRC, 'core/clock.ts'), 'utf8')).length, 1, 'the clock module itself is seen reading it')
})

/**
 * Include/exclude globs: exact matches by name and by absolute path, and clear errors for bad patterns.
 */
import t from 'tap'
import { createPathFilter, globToRegExp } from '../src/repo/path-filter.js'

t.test('globs match names and absolute paths', async (t) => {
  const cases: [string, string, boolean][] = [
    ['*.tmp', 'a.tmp', true],
    ['*.tmp', 'a.tmpx', false],
    ['*.tmp', 'dir/a.tmp', false],
    ['?.txt', 'a.txt', true],
    ['?.txt', 'ab.txt', false],
    ['[ab].txt', 'b.txt', true],
    ['[!ab].txt', 'b.txt', false],
    ['[!ab].txt', 'c.txt', true],
    ['/home/*/cache', '/home/ann/cache', true],
    ['/home/*/cache', '/home/ann/x/cache', false],
    ['/home/**/cache', '/home/ann/x/cache', true],
    ['/home/**/cache', '/home/cache', true],
    ['**/build/**', '/src/app/build/out.o', true],
    ['a.b', 'axb', false],
    ['(x)+', '(x)+', true],
  ]
  for (const [pattern, input, expected] of cases) {
    t.equal(globToRegExp(pattern).test(input), expected, `${pattern} ~ ${input}`)
  }
})

t.test('a pattern without a slash matches the name at any depth; includes select files only', async (t) => {
  const f = createPathFilter({ excludes: ['node_modules', '/srv/*/tmp'], includes: ['*.docx', '*.xlsx'] })
  t.equal(f.isExcluded('/home/ann/project/node_modules', 'node_modules'), true)
  t.equal(f.isExcluded('/home/ann/project/src', 'src'), false)
  t.equal(f.isExcluded('/srv/web/tmp', 'tmp'), true)
  t.equal(f.isExcluded('/home/tmp', 'tmp'), false)
  t.equal(f.isIncludedFile('/home/ann/report.docx', 'report.docx'), true)
  t.equal(f.isIncludedFile('/home/ann/notes.txt', 'notes.txt'), false)
  const all = createPathFilter()
  t.equal(all.isExcluded('/x', 'x'), false, 'no excludes: nothing excluded')
  t.equal(all.isIncludedFile('/x', 'x'), true, 'no includes: every file included')
})

t.test('bad patterns are refused with the pattern and position', async (t) => {
  t.throws(() => globToRegExp('a[bc'), { code: 'INVALID_ARGUMENT', message: 'Invalid glob "a[bc": unclosed "[" at position 2' })
  t.throws(() => createPathFilter({ excludes: [''] }), { code: 'INVALID_ARGUMENT', message: 'Invalid exclude pattern: empty' })
})

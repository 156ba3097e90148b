// The documentation lint and the API reference, from one walk of the public API.
//
//   node scripts/docs.ts           lint, then write docs/api/<package>.md
//   node scripts/docs.ts --check   lint, and fail if docs/api/ or the custom
//                                  backend guide is out of date (npm test runs this)
//
// The public API of a package is what its `exports` map reaches: src/index.ts
// and every other module under src/ outside internal/, less modules whose
// header says `@internal`. In each public module, with the TypeScript compiler:
//
// - the module opens with a header comment: a summary and `@since`;
// - every exported declaration (function, constant, class, interface, type,
//   namespace) has a JSDoc block with a summary, `@since <version>`, and
//   exactly one `@category` from STYLE.md's list, unless it says `@internal`;
//   overloads and a type and a value of one name count once each;
// - `export * as Name from "./Module.ts"` (an index naming its modules) needs a
//   summary and `@since`; the module it names is checked as a module;
// - `export { name } from "./Module.ts"` is documented where it is declared;
// - `export * from` a whole module is refused: it would publish whatever the
//   other module exports, unseen.
//
// Signatures in the reference are the declarations TypeScript emits (.d.ts),
// made in memory, so the reference never depends on a stale dist/.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, relative, sep } from "node:path"
import ts from "typescript"
import * as Guide from "./install-test/guide.ts"

const root = join(import.meta.dirname, "..")
const categories = ["models", "services", "layers", "constructors", "errors", "guards"] as const

interface Package {
  readonly dir: string
  readonly name: string
  readonly description: string
  readonly modules: ReadonlyArray<string>
}

interface Doc {
  readonly summary: string
  readonly since: ReadonlyArray<string>
  readonly categories: ReadonlyArray<string>
  readonly examples: ReadonlyArray<string>
  readonly internal: boolean
}

interface Entry {
  readonly name: string
  readonly kind: string
  readonly doc: Doc
  readonly signature: string
  readonly line: number
}

interface Module {
  readonly pkg: Package
  readonly path: string
  readonly name: string
  readonly header: Doc | undefined
  readonly entries: ReadonlyArray<Entry>
  /** `export * as X from "./X.ts"` in an index: X → the module's path. */
  readonly namespaces: ReadonlyMap<string, string>
  /** `export { x } from "./M.ts"`: names re-exported from another public module. */
  readonly reexports: ReadonlyArray<{ readonly name: string; readonly from: string }>
}

const problems: Array<string> = []
const report = (path: string, line: number, what: string, message: string) =>
  problems.push(`${relative(root, path)}:${line} ${what}: ${message}`)

const walk = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

const packages = (): ReadonlyArray<Package> =>
  readdirSync(join(root, "packages"))
    .map((dir) => join(root, "packages", dir))
    .filter((dir) => existsSync(join(dir, "package.json")))
    .flatMap((dir) => {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
      if (manifest.private === true) return []
      const modules = walk(join(dir, "src")).filter((path) => !relative(join(dir, "src"), path).split(sep).includes("internal"))
      return [{ dir, name: manifest.name as string, description: manifest.description as string, modules: modules.sort() }]
    })

const text = (comment: string | ts.NodeArray<ts.JSDocComment> | undefined): string =>
  (ts.getTextOfJSDocComment(comment) ?? "").trim()

const parseDoc = (jsDoc: ts.JSDoc | undefined): Doc | undefined => {
  if (jsDoc === undefined) return undefined
  const tags = jsDoc.tags ?? []
  const named = (name: string) => tags.filter((tag) => tag.tagName.text === name).map((tag) => text(tag.comment))
  return {
    summary: text(jsDoc.comment),
    since: named("since"),
    categories: named("category"),
    examples: named("example"),
    internal: tags.some((tag) => tag.tagName.text === "internal")
  }
}

const lastJsDoc = (node: ts.Node): ts.JSDoc | undefined =>
  ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc).at(-1)

/**
 * The module's header: the first JSDoc block of the file, when another block
 * or a statement that is not an export (an import) follows it; otherwise the
 * first block belongs to the first declaration.
 */
const moduleHeader = (source: ts.SourceFile): Doc | undefined => {
  // From the newline ending a #! line: TypeScript collects comments only at the start or after a newline.
  const start = source.text.startsWith("#!") ? source.text.indexOf("\n") : 0
  const blocks = (ts.getLeadingCommentRanges(source.text, start) ?? [])
    .filter((range) => source.text.startsWith("/**", range.pos))
  const first = source.statements[0]
  const isHeader = blocks.length >= 2 || (blocks.length === 1 && (first === undefined || !isExported(first)))
  if (!isHeader) return undefined
  const comment = source.text.slice(blocks[0]!.pos, blocks[0]!.end)
  const parsed = ts.createSourceFile("header.ts", `${comment}\nconst header = 0\n`, ts.ScriptTarget.ES2022, true)
  return parseDoc(lastJsDoc(parsed.statements[0]!))
}

const checkDoc = (path: string, line: number, what: string, doc: Doc | undefined, needsCategory: boolean): void => {
  if (doc === undefined) {
    report(path, line, what, "no JSDoc block")
    return
  }
  if (doc.summary === "") report(path, line, what, "no summary")
  if (doc.since.length !== 1 || !/^\d+\.\d+\.\d+/.test(doc.since[0]!)) {
    report(path, line, what, `needs one @since <version>, has ${doc.since.length === 0 ? "none" : doc.since.map((s) => `"${s}"`).join(", ")}`)
  }
  if (!needsCategory) return
  if (doc.categories.length !== 1) {
    report(path, line, what, `needs exactly one @category (${categories.join(", ")}), has ${doc.categories.length}`)
  } else if (!(categories as ReadonlyArray<string>).includes(doc.categories[0]!)) {
    report(path, line, what, `@category ${doc.categories[0]} is not one of ${categories.join(", ")}`)
  }
}

const isExported = (node: ts.Node): boolean =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)

const kindOf = (node: ts.Node): string =>
  ts.isFunctionDeclaration(node) ? "function" :
  ts.isVariableStatement(node) ? "const" :
  ts.isClassDeclaration(node) ? "class" :
  ts.isInterfaceDeclaration(node) ? "interface" :
  ts.isTypeAliasDeclaration(node) ? "type" :
  ts.isEnumDeclaration(node) ? "enum" :
  ts.isModuleDeclaration(node) ? "namespace" : "declaration"

/** The declaration as the .d.ts has it, without its JSDoc block. */
const signature = (node: ts.Node, dts: ts.SourceFile | undefined, name: string, kind: string): string => {
  const match = dts?.statements.find((statement) =>
    isExported(statement) && kindOf(statement) === kind && declaredNames(statement).includes(name)
  )
  return (match ?? node).getText(match ? dts : node.getSourceFile())
}

const declaredNames = (node: ts.Node): Array<string> =>
  ts.isVariableStatement(node)
    ? node.declarationList.declarations.flatMap((d) => (ts.isIdentifier(d.name) ? [d.name.text] : []))
    : "name" in node && node.name !== undefined && ts.isIdentifier(node.name as ts.Node)
    ? [(node.name as ts.Identifier).text]
    : []

const modulePath = (from: string, specifier: string): string => join(dirname(from), specifier)

const readModule = (pkg: Package, path: string, source: ts.SourceFile, dts: ts.SourceFile | undefined): Module | undefined => {
  const header = moduleHeader(source)
  if (header?.internal) return undefined
  checkDoc(path, 1, "module header", header, false)
  const entries: Array<Entry> = []
  const namespaces = new Map<string, string>()
  const reexports: Array<{ name: string; from: string }> = []
  const seen = new Set<string>()
  for (const statement of source.statements) {
    const line = source.getLineAndCharacterOfPosition(statement.getStart(source)).line + 1
    if (ts.isExportDeclaration(statement)) {
      const specifier = statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)
        ? statement.moduleSpecifier.text
        : undefined
      const clause = statement.exportClause
      if (clause === undefined) {
        report(path, line, `export * from "${specifier}"`, "re-exports a whole module unseen; name what is exported")
      } else if (ts.isNamespaceExport(clause)) {
        checkDoc(path, line, `export * as ${clause.name.text}`, parseDoc(lastJsDoc(statement)), false)
        if (specifier?.startsWith(".")) namespaces.set(clause.name.text, modulePath(path, specifier))
      } else {
        for (const element of clause.elements) {
          const from = specifier !== undefined && specifier.startsWith(".") ? modulePath(path, specifier) : undefined
          if (from !== undefined && pkg.modules.includes(from)) reexports.push({ name: element.name.text, from })
          else checkDoc(path, line, element.name.text, parseDoc(lastJsDoc(statement)), true)
        }
      }
      continue
    }
    if (!isExported(statement)) continue
    const kind = kindOf(statement)
    for (const name of declaredNames(statement)) {
      // Overloads share one block; a type and a value of one name are two entries.
      const key = `${kind === "const" || kind === "function" || kind === "class" || kind === "enum" ? "value" : "type"}:${name}`
      if (seen.has(key)) continue
      seen.add(key)
      const doc = parseDoc(lastJsDoc(statement))
      if (doc?.internal) continue
      checkDoc(path, line, `${kind} ${name}`, doc, true)
      if (doc !== undefined) entries.push({ name, kind, doc, signature: signature(statement, dts, name, kind), line })
    }
  }
  const name = relative(join(pkg.dir, "src"), path).replace(/\.ts$/, "").split(sep).join("/")
  return { pkg, path, name, header, entries, namespaces, reexports }
}

// Examples: every ```ts block in a public module's JSDoc is type-checked as a
// module of its own, placed beside the module it documents so that its imports
// resolve as a user's would. An example may show another package (a backend in
// core's docs): its imports then resolve from any public package.

interface Example {
  readonly path: string
  readonly line: number
  readonly code: string
}

const examplesIn = (path: string): Array<Example> => {
  const text = readFileSync(path, "utf8")
  return [...text.matchAll(/\/\*\*[\s\S]*?\*\//g)].flatMap((comment) => {
    const body = comment[0].split("\n").map((line) => line.replace(/^\s*\*( |$)/, "")).join("\n")
    const line = text.slice(0, comment.index).split("\n").length
    return [...body.matchAll(/```(?:ts|typescript)\n([\s\S]*?)```/g)].map((block) => ({ path, line, code: block[1]! }))
  })
}

const program = (packages: ReadonlyArray<Package>) => {
  const base = ts.getParsedCommandLineOfConfigFile(join(root, "tsconfig.base.json"), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"))
    }
  })!
  const options: ts.CompilerOptions = {
    ...base.options,
    composite: false,
    incremental: false,
    declarationMap: false,
    sourceMap: false,
    declaration: true,
    emitDeclarationOnly: true,
    noEmit: false,
    rootDir: root,
    outDir: join(root, "node_modules", ".cache", "docs")
  }
  const modules = packages.flatMap((pkg) => pkg.modules)
  const examples = new Map(modules.flatMap(examplesIn).map((example, i) => [
    join(dirname(example.path), `__docs_example_${i}__.ts`),
    example
  ]))
  const host = ts.createCompilerHost(options)
  const { fileExists, readFile, getSourceFile } = host
  host.fileExists = (file) => examples.has(file) || fileExists(file)
  host.readFile = (file) => examples.get(file)?.code ?? readFile(file)
  host.getSourceFile = (file, language, onError, fresh) => {
    const example = examples.get(file)
    return example ? ts.createSourceFile(file, example.code, language, true) : getSourceFile(file, language, onError, fresh)
  }
  host.resolveModuleNameLiterals = (literals, containingFile, _redirect, compilerOptions) =>
    literals.map((literal) => {
      const from = examples.has(containingFile)
        ? [containingFile, ...packages.map((pkg) => join(pkg.dir, "src", "index.ts"))]
        : [containingFile]
      for (const file of from) {
        const resolved = ts.resolveModuleName(literal.text, file, compilerOptions, host)
        if (resolved.resolvedModule !== undefined) return resolved
      }
      return ts.resolveModuleName(literal.text, containingFile, compilerOptions, host)
    })
  const created = ts.createProgram({ rootNames: [...modules, ...examples.keys()], options, host })
  const declarations = new Map<string, ts.SourceFile>()
  created.emit(undefined, (fileName, content) => {
    const source = join(root, relative(options.outDir!, fileName)).replace(/\.d\.ts$/, ".ts")
    declarations.set(source, ts.createSourceFile(fileName, content, ts.ScriptTarget.ES2022, true))
  }, undefined, true)
  for (const [file, example] of examples) {
    for (const diagnostic of ts.getPreEmitDiagnostics(created, created.getSourceFile(file))) {
      if (diagnostic.file?.fileName !== file) continue
      const at = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0)
      report(
        example.path,
        example.line,
        "example",
        `line ${at.line + 1} of the example does not type-check: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, " ")}`
      )
    }
  }
  return { created, declarations, examples: examples.size }
}

// ---------------------------------------------------------------------------
// The reference

const renderDoc = (doc: Doc): Array<string> => [
  doc.summary,
  ...doc.examples.flatMap((example) => ["", "**Example**", "", example]),
  ""
]

const firstSentence = (summary: string): string => {
  const flat = summary.split("\n\n")[0]!.replace(/\s+/g, " ").trim()
  return /^.*?[.:](?= |$)/.exec(flat)?.[0].replace(/:$/, ".") ?? flat
}

const anchor = (title: string): string => title.toLowerCase().replace(/[^a-z0-9 -]/g, "").replace(/ /g, "-")

const render = (pkg: Package, modules: ReadonlyArray<Module>): string => {
  const dir = relative(root, pkg.dir)
  const index = modules.find((m) => m.name === "index")
  const out: Array<string> = [
    `<!-- Generated by scripts/docs.ts from the JSDoc in ${dir}/src: do not edit, run \`pnpm run docs\`. -->`,
    `# ${pkg.name}`,
    "",
    pkg.description + ".",
    "",
    `See also the package's [README](../../${dir}/README.md).`,
    ""
  ]
  // An index that only names the other modules is the module list itself.
  const shown = modules
    .filter((m) => m.entries.length > 0 || m.name !== "index" || m.reexports.length > 0)
    .sort((a, b) => Number(b.name === "index") - Number(a.name === "index"))
  const title = (module: Module) => (module.name === "index" ? pkg.name : module.name)
  out.push("## Modules", "")
  for (const module of shown) {
    out.push(`- [${title(module)}](#${anchor(title(module))})${module.header?.summary ? ` — ${firstSentence(module.header.summary)}` : ""}`)
  }
  out.push("")
  for (const module of shown) {
    const namespace = [...(index?.namespaces ?? [])].find(([, path]) => path === module.path)?.[0]
    const typeOnly = (entry: Entry) => entry.kind === "interface" || entry.kind === "type"
    const reexported = module.reexports.flatMap(({ name, from }) =>
      modules.find((m) => m.path === from)?.entries.filter((e) => e.name === name) ?? []
    )
    const importLine = module.name === "index"
      ? `import { ${[...module.entries, ...reexported].map((e) => (typeOnly(e) ? `type ${e.name}` : e.name)).join(", ")} } from "${pkg.name}"`
      : namespace !== undefined
      ? `import { ${namespace} } from "${pkg.name}"`
      : `import * as ${module.name.split("/").pop()} from "${pkg.name}/${module.name}"`
    out.push(`## ${title(module)}`, "", ...(module.header ? renderDoc(module.header) : []), "```ts", importLine, "```", "")
    for (const { name, from } of module.reexports) {
      const target = modules.find((m) => m.path === from)
      const targetTitle = target === undefined ? relative(root, from) : title(target)
      out.push(`Re-exports \`${name}\` from [${targetTitle}](#${anchor(targetTitle)}).`, "")
    }
    for (const category of categories) {
      const entries = module.entries.filter((e) => e.doc.categories[0] === category).sort((a, b) => a.name.localeCompare(b.name))
      if (entries.length === 0) continue
      out.push(`### ${category}`, "")
      for (const entry of entries) {
        out.push(
          `#### ${entry.name}`,
          "",
          ...renderDoc(entry.doc),
          "```ts",
          entry.signature,
          "```",
          "",
          // No line numbers: they would put the reference out of date at every edit above a declaration.
          `Since ${entry.doc.since[0]} · [source](../../${relative(root, module.path).split(sep).join("/")})`,
          ""
        )
      }
    }
  }
  return out.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n"
}

// ---------------------------------------------------------------------------

const checkGuide = (): Array<string> => {
  const stale: Array<string> = []
  const example = join(root, "examples", "json-file-backend")
  for (const [path, content] of Guide.files(Guide.read(join(root, "docs", "custom-backend.md")))) {
    const file = join(example, path)
    if (!existsSync(file) || readFileSync(file, "utf8") !== content) {
      stale.push(`docs/custom-backend.md writes ${path}, which differs from examples/json-file-backend/${path}`)
    }
  }
  return stale
}

if (import.meta.main) {
  const check = process.argv.includes("--check")
  const all = packages()
  const { created, declarations, examples } = program(all)
  const byPackage = all.map((pkg) => ({
    pkg,
    modules: pkg.modules.flatMap((path) => {
      const source = created.getSourceFile(path)
      if (source === undefined) throw new Error(`${path} is not in the program`)
      const module = readModule(pkg, path, source, declarations.get(path))
      return module === undefined ? [] : [module]
    })
  }))
  const exports = byPackage.reduce((n, { modules }) => n + modules.reduce((m, module) => m + module.entries.length, 0), 0)
  if (problems.length > 0) {
    console.error(`docs: ${problems.length} documentation problems in the public API:\n  ${problems.join("\n  ")}`)
    process.exit(1)
  }
  console.log(
    `docs: all ${exports} public exports of ${byPackage.reduce((n, { modules }) => n + modules.length, 0)} modules in ${all.length} packages are documented (summary, @since, one @category); their ${examples} examples type-check`
  )

  const stale: Array<string> = []
  mkdirSync(join(root, "docs", "api"), { recursive: true })
  for (const { pkg, modules } of byPackage) {
    const file = join(root, "docs", "api", `${relative(join(root, "packages"), pkg.dir)}.md`)
    const content = render(pkg, modules)
    if (existsSync(file) && readFileSync(file, "utf8") === content) continue
    if (check) stale.push(`${relative(root, file)} is out of date: run \`pnpm run docs\``)
    else {
      writeFileSync(file, content)
      console.log(`docs: wrote ${relative(root, file)}`)
    }
  }
  stale.push(...checkGuide())
  if (stale.length > 0) {
    console.error(stale.join("\n"))
    process.exit(1)
  }
}

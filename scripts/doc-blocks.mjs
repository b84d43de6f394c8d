// The docs' code blocks as a reader meets them (issue 14): every code block of README.md, docs/*.md
// (docs/api is generated) and the package and example READMEs, against the installed tarballs.
//   - ```ts blocks are typechecked in the consumer project under `module: nodenext` and
//     `moduleResolution: bundler`; what its tsc emits for nodenext (`target: es2022`, which
//     lowers `await using`) runs with this Node;
//   - ```js / ```mjs blocks run as plain `.mjs` (and are typechecked with checkJs under bundler
//     resolution, the globals' types in scope); a block with `await using` must be followed
//     right away by its Node 20 form (a line saying "Node 20 form", then a ```js block without
//     `await using`, which Node 20 does not parse);
//   - ```sh blocks run with `sh -e` in the consumer project; ```console blocks run each `$ `
//     command there and compare what it prints with the lines shown under it;
//   - ```text, ```ini, ```json and unlabelled blocks are data (diagrams, files, output): not run.
// Every block runs on a throwaway node (scripts/doc-node.mjs: the guide's etcd, addresses and
// /etc in namespaces of its own), the blocks of one doc in order on one node, each in a fresh
// temp dir as its cwd. Names a block takes from the text around it (examples/demo/readme/
// globals.d.ts) are made at run time by examples/demo/readme/globals.mjs on that node.
// scripts/doc-blocks.selftest.md holds blocks that must fail; checkDocBlocksSelfTest proves they do.
// A block that is not run says so right before it, with the reason:
//   <!-- readme-test: fragment — why it cannot run as written -->
//   <!-- readme-test: daemon — it runs until stopped -->        runs DAEMON_MS, then is stopped;
//                                                               must not exit nor print on stderr
//   <!-- readme-test: exit 1 — why it exits 1 -->               runs, must exit 1
// (`<!-- readme-test: run -->`, the default, is accepted.) Any other block that does not run
// fails the check.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { makeGuidePki, nodeMissing, startNode } from "./doc-node.mjs";

const LANGS = { ts: "ts", js: "js", mjs: "js", sh: "sh", bash: "sh", console: "console" };
const DATA = new Set(["", "text", "ini", "json"]);
const MARK =
  /^<!--\s*readme-test:\s*(run|fragment|daemon|exit)(?:\s+(\d+))?(?:\s*[—:]\s*(.+?))?\s*-->$/;
const DAEMON_MS = 4000;
const CONCURRENCY = 2;

/** README.md, docs/*.md, packages/*\/README.md, examples/*\/README.md. */
function docFiles(root) {
  return [
    "README.md",
    ...readdirSync(join(root, "docs"))
      .filter((f) => f.endsWith(".md"))
      .sort()
      .map((f) => `docs/${f}`),
    ...["packages", "examples"].flatMap((parent) =>
      readdirSync(join(root, parent))
        .sort()
        .map((d) => `${parent}/${d}/README.md`)
        .filter((f) => existsSync(join(root, f))),
    ),
  ];
}

/** The code blocks of one doc, with the mark right before each. */
function extractBlocks(root, doc, fail) {
  const lines = readFileSync(join(root, doc), "utf8").split("\n");
  const blocks = [];
  let after = 0; // the line after the previous block
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i].trim());
    if (fence === null) continue;
    let j = i + 1;
    while (j < lines.length && lines[j].trim() !== "```") j++;
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === "") k--;
    const where = `${doc}:${i + 2}`;
    const comment = lines[k]?.trim() ?? "";
    const m = MARK.exec(comment);
    if (m === null && /readme-test/.test(comment)) fail(`${where}: unknown mark ${comment}`);
    const [, mark = "run", arg, reason] = m ?? [];
    if ((mark === "fragment" || mark === "exit") && !reason)
      fail(`${where}: \`readme-test: ${mark}\` needs a reason (… — why)`);
    const lang = fence[1];
    blocks.push({
      doc,
      where,
      lang,
      kind: LANGS[lang] ?? (DATA.has(lang) ? "data" : "unknown"),
      code: lines.slice(i + 1, j).join("\n"),
      mark,
      exit: mark === "exit" ? Number(arg) : 0,
      reason: reason ?? null,
      name: `${doc.replace(/[/.]/g, "_")}_L${i + 2}`,
      before: lines.slice(after, i).join("\n"), // the text since the previous block
    });
    i = j;
    after = j + 1;
  }
  return blocks;
}

/** Top-level names a block declares, and the identifiers it reads. */
function names(code) {
  const sf = ts.createSourceFile("block.ts", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const declared = new Set();
  const bind = (n) => {
    if (ts.isIdentifier(n)) declared.add(n.text);
    else for (const e of n.elements) if (!ts.isOmittedExpression(e)) bind(e.name);
  };
  for (const s of sf.statements) {
    if (ts.isVariableStatement(s)) for (const d of s.declarationList.declarations) bind(d.name);
    else if ((ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s)) && s.name) bind(s.name);
    else if (ts.isImportDeclaration(s) && s.importClause) {
      const c = s.importClause;
      if (c.name) bind(c.name);
      const nb = c.namedBindings;
      if (nb && ts.isNamespaceImport(nb)) bind(nb.name);
      else if (nb) for (const e of nb.elements) bind(e.name);
    }
  }
  const used = new Set();
  const visit = (n) => {
    const p = n.parent;
    if (
      ts.isIdentifier(n) &&
      !((ts.isPropertyAccessExpression(p) || ts.isPropertyAssignment(p)) && p.name === n)
    )
      used.add(n.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return { declared, used };
}

/** The runnable `.mjs` text of a ts / js block: what it is given, the block, the cleanup. */
function program(block, givenNames, dir) {
  // a ts block: what tsc emitted for it in the consumer project (docs-blocks/js/, nodenext)
  const js =
    block.kind === "ts" ? readFileSync(join(dir, "js", `${block.name}.js`), "utf8") : block.code;
  const { declared, used } = names(block.code);
  const given = givenNames.filter((n) => used.has(n) && !declared.has(n));
  if (given.length === 0) return `${js}\nexport {};\n`;
  return [
    'import { given as __given } from "./globals.mjs";',
    `const __docs = await __given(${JSON.stringify(given)});`,
    `const { ${given.join(", ")} } = __docs;`,
    js,
    "await __docs.close();",
    "export {};",
    "",
  ].join("\n");
}

/** `$ command` lines and the output shown under each. */
function transcript(code) {
  const steps = [];
  for (const line of code.split("\n")) {
    if (line.startsWith("$ ")) steps.push({ command: line.slice(2), expected: [] });
    else steps.at(-1)?.expected.push(line);
  }
  return steps;
}

/**
 * Typechecks and runs every doc block in the consumer project `app` (the tarballs installed);
 * `verbose` prints what each block printed.
 * @returns the figures: blocks, run, typechecked, fragments (where and why), data blocks
 */
export async function checkDocBlocks({
  root,
  app,
  work,
  fail,
  tsc,
  verbose = false,
  docs: docPaths = docFiles(root),
  dirName = "docs-blocks",
  daemonMs: daemonFor = DAEMON_MS,
  typecheck = true,
}) {
  const started = Date.now();
  const dir = join(app, dirName);
  mkdirSync(dir);
  const readme = join(root, "examples/demo/readme");
  writeFileSync(join(dir, "globals.d.ts"), readFileSync(join(readme, "globals.d.ts")));
  writeFileSync(join(dir, "globals.mjs"), readFileSync(join(readme, "globals.mjs")));
  const givenNames = [
    ...readFileSync(join(readme, "globals.d.ts"), "utf8").matchAll(/^\s*const (\w+):/gm),
  ].map((m) => m[1]);

  const docs = docPaths.map((doc) => ({ doc, blocks: extractBlocks(root, doc, fail) }));
  const all = docs.flatMap((d) => d.blocks);
  for (const b of all) {
    if (b.kind === "unknown") fail(`${b.where}: a \`\`\`${b.lang} block: no rule to run it`);
    if (b.kind === "ts") writeFileSync(join(dir, `${b.name}.ts`), `${b.code}\nexport {};\n`);
    if (b.kind === "js") writeFileSync(join(dir, `${b.name}.mjs`), `${b.code}\nexport {};\n`);
  }
  for (const { blocks } of docs) {
    blocks.forEach((b, i) => {
      if (!/\bawait using\b/.test(b.code)) return;
      const next = blocks[i + 1];
      if (
        b.kind === "js" ||
        next?.kind !== "js" ||
        /\bawait using\b/.test(next.code) ||
        !/Node 20 form/.test(next.before)
      )
        fail(
          `${b.where}: \`await using\` without its Node 20 form right after it ("Node 20 form", then a \`\`\`js block)`,
        );
    });
  }

  const compilerOptions = {
    target: "es2022",
    lib: ["es2022", "esnext.disposable", "dom"],
    types: ["node"],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  };
  // nodenext also emits the JavaScript that runs (`target: es2022` lowers `await using`), as a
  // consumer's own tsc build would.
  for (const [label, options, js = []] of [
    [
      "nodenext",
      {
        module: "nodenext",
        moduleResolution: "nodenext",
        noEmit: false,
        rootDir: dirName,
        outDir: `${dirName}/js`,
      },
    ],
    // the js blocks too (checkJs; JavaScript has no annotations, so no noImplicitAny)
    [
      "bundler",
      {
        module: "esnext",
        moduleResolution: "bundler",
        allowJs: true,
        checkJs: true,
        noImplicitAny: false,
      },
      all.filter((b) => b.kind === "js").map((b) => `${dirName}/${b.name}.mjs`),
    ],
  ]) {
    if (!typecheck) break;
    const config = `tsconfig.${dirName}-${label}.json`;
    writeFileSync(
      join(app, config),
      JSON.stringify({
        compilerOptions: { ...compilerOptions, ...options },
        include: [`${dirName}/*.ts`, ...js],
      }),
    );
    tsc(app, config);
  }

  const missing = nodeMissing();
  if (missing !== null) {
    // CI has every part (.ci/run installs them); elsewhere the blocks are typechecked only
    if (process.env.CI === "true") fail(`the docs' blocks cannot run: ${missing}`);
    else console.error(`SKIPPED running the docs' blocks (typechecked only): ${missing}`);
    return { blocks: all.length, run: 0, skipped: missing };
  }

  // The node's /etc: the guide's /etc/sysconfig/flanneld, rendered by the installed render.
  const etc = join(work, `${dirName}-etc`);
  mkdirSync(join(etc, "sysconfig"), { recursive: true });
  writeFileSync(
    join(dir, "seed.mjs"),
    'import { INSTALL_GUIDE } from "@flannel-sdk/core";\nimport { renderFlanneldSysconfig } from "@flannel-sdk/render";\nprocess.stdout.write(renderFlanneldSysconfig(INSTALL_GUIDE));\n',
  );
  writeFileSync(
    join(etc, "sysconfig/flanneld"),
    execFileSync(process.execPath, [join(dir, "seed.mjs")], { encoding: "utf8" }),
  );
  const pki = makeGuidePki(join(work, `${dirName}-pki`));

  const ran = [];
  /** The blocks of one doc, in order, on a node of their own. */
  const runDoc = async (blocks) => {
    const runnable = blocks.filter(
      (b) => b.kind !== "data" && b.kind !== "unknown" && b.mark !== "fragment",
    );
    if (runnable.length === 0) return;
    const node = await startNode({ work, pki, etc });
    try {
      for (const b of runnable) {
        const daemonMs = b.mark === "daemon" ? daemonFor : undefined;
        const results = [];
        if (b.kind === "ts" || b.kind === "js") {
          const file = join(dir, `${b.name}.mjs`);
          writeFileSync(file, program(b, givenNames, dir));
          results.push(await node.run([process.execPath, file], { daemonMs }));
        } else {
          const env = { PATH: `${join(app, "node_modules/.bin")}:${process.env.PATH}` };
          const steps =
            b.kind === "sh" ? [{ command: b.code, expected: null }] : transcript(b.code);
          for (const { command, expected } of steps) {
            const r = await node.run(["sh", "-ec", command], { cwd: app, env, daemonMs });
            if (
              expected !== null &&
              r.code === 0 &&
              r.stdout.trimEnd() !== expected.join("\n").trimEnd()
            )
              r.mismatch = `printed\n${r.stdout}\nthe doc shows\n${expected.join("\n")}`;
            results.push(r);
            if (r.code !== 0) break;
          }
        }
        if (verbose)
          for (const r of results)
            console.error(
              `${b.where}: exit ${r.code}${r.alive ? " (alive, stopped)" : ""}\n${r.stdout}${r.stderr}`,
            );
        for (const r of results) {
          // a daemon passes still running with nothing on stderr (no warning, no failed renewal)
          const quietDaemon = r.alive && r.stderr === "";
          const ok = !r.timedOut && !r.mismatch && (quietDaemon || (!r.alive && r.code === b.exit));
          if (!ok) {
            const why = r.timedOut
              ? "did not finish"
              : r.alive
                ? `printed on stderr while running`
                : (r.mismatch ?? `exited ${r.code} (expected ${b.exit})`);
            fail(`${b.where} (${b.lang} block): ${why}\n${r.stderr.slice(-3000)}`);
          }
        }
        ran.push(b.where);
      }
    } finally {
      await node.close();
    }
  };
  // Docs are independent: CONCURRENCY nodes at a time.
  const queue = docs.map((d) => d.blocks);
  const worker = async () => {
    for (let blocks = queue.shift(); blocks !== undefined; blocks = queue.shift()) {
      await runDoc(blocks).catch((e) => fail(`${blocks[0].doc}: ${e?.stack ?? e}`));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const fragments = all.filter((b) => b.mark === "fragment" && b.kind !== "data");
  return {
    seconds: Math.round((Date.now() - started) / 1000),
    blocks: all.length,
    code: all.filter((b) => b.kind !== "data").length,
    run: ran.length,
    typechecked: all.filter((b) => b.kind === "ts" || b.kind === "js").length,
    fragments: fragments.map((b) => `${b.where}: ${b.reason}`),
    data: all.filter((b) => b.kind === "data").length,
  };
}

/**
 * Runs the check on scripts/doc-blocks.selftest.md, whose blocks say (`<!-- expect: regex -->` in
 * the text before each) which failure the check must report for them: a check that lets a broken
 * block through fails here.
 */
export async function checkDocBlocksSelfTest({ root, app, work, fail, tsc }) {
  const doc = "scripts/doc-blocks.selftest.md";
  const reported = [];
  await checkDocBlocks({
    root,
    app,
    work,
    tsc,
    fail: (what) => reported.push(what),
    docs: [doc],
    dirName: "docs-selftest",
    daemonMs: 1500,
    typecheck: false, // it checks the runner (its blocks are js and sh: no tsc output needed)
  });
  const expected = extractBlocks(root, doc, () => {}).map((b) => ({
    where: b.where,
    expect: /<!--\s*expect:\s*(.*?)\s*-->/.exec(b.before)?.[1] ?? null,
  }));
  for (const { where, expect } of expected) {
    const hits = reported.filter((r) => r.startsWith(`${where}:`) || r.startsWith(`${where} `));
    if (expect === null && hits.length > 0) fail(`self-test: ${where} should pass:\n${hits[0]}`);
    if (expect !== null && !hits.some((h) => new RegExp(expect).test(h)))
      fail(
        `self-test: the check let ${where} through (expected /${expect}/), it reported ${JSON.stringify(hits)}`,
      );
  }
  const known = new Set(expected.map((e) => e.where));
  for (const r of reported)
    if (![...known].some((w) => r.startsWith(`${w}:`) || r.startsWith(`${w} `)))
      fail(`self-test: unexpected failure ${r}`);
}

/**
 * The two declarations of explicit resource management that core's public types use
 * (`LeaseStore extends AsyncDisposable`, `[Symbol.asyncDispose]()`), declared exactly as
 * TypeScript's `esnext.disposable` lib and `@types/node` declare them, so that core's
 * declarations also compile for a browser (`lib: ["es2022", "dom"]`, no Node types). Where those
 * libs are loaded the declarations merge. At run time nothing here exists: `await using` needs
 * an engine with `Symbol.asyncDispose` (Node >= 20.19 has it; see docs/guide.md for Node 20's
 * syntax).
 * @internal
 */
declare global {
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
  interface AsyncDisposable {
    [Symbol.asyncDispose](): PromiseLike<void>;
  }
}

export {};

/**
 * Lets acquisitions waiting on one snapshot plan a few at a time, one batch per event-loop turn,
 * so the txns of the first ones go out while the rest still plan.
 */

const PLANS_PER_TURN = 8;

/** The planning turns of one store. @internal */
export class PlanTurns {
  readonly #waiting: (() => void)[] = [];

  /** Resolves on this caller's turn. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      if (this.#waiting.length === 1) setImmediate(() => this.#run());
    });
  }

  #run(): void {
    const batch = this.#waiting.splice(0, PLANS_PER_TURN);
    for (const resolve of batch) resolve();
    if (this.#waiting.length > 0) setImmediate(() => this.#run());
  }
}

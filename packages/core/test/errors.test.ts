import { describe, expect, it } from "vitest";
import { errorLine, FlannelError } from "../src/index.js";

describe("errorLine", () => {
  it("is one line: CODE: message, Name: message, or the text; never a stack trace", () => {
    const e = new FlannelError("ENV_TOO_LARGE", "subnet.env:\nexpands too far");
    expect(errorLine(e)).toBe("ENV_TOO_LARGE: subnet.env: expands too far");
    expect(errorLine(e, { code: false })).toBe("subnet.env: expands too far");
    expect(errorLine(new RangeError("a\nb"))).toBe("RangeError: a b");
    expect(errorLine("x\r\ny")).toBe("x y");
  });
});

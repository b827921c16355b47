/// <reference lib="esnext.disposable" preserve="true" />

// `using` needs Symbol.dispose / Symbol.asyncDispose; engines that predate them get the same
// registered symbols TypeScript's own downlevel `using` falls back to.
const symbols = Symbol as { dispose?: symbol; asyncDispose?: symbol };
symbols.dispose ??= Symbol.for('Symbol.dispose');
symbols.asyncDispose ??= Symbol.for('Symbol.asyncDispose');

export {};

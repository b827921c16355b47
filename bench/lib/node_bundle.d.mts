export declare const NODE_BUNDLE: string;
export declare function runNodeBench(args: readonly string[]): Promise<number>;

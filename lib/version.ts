import pkg from "../package.json" with { type: "json" };

/** The version from package.json, baked into the compiled binary by the bundler. */
export const VERSION: string = pkg.version;

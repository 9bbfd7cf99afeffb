// Generated from openapi.yaml by `npm run generate`; do not edit.

/** The version of the API contract (`info.version`) this SDK was generated from; the package has the same version. */
export const VERSION = '1.1.0';

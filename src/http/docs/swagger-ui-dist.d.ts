// swagger-ui-dist ships no types; berth uses only the directory of its files.
declare module 'swagger-ui-dist' {
  export function getAbsoluteFSPath(): string;
}

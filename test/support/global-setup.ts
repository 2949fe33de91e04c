// Runs once before all test files. Later issues add the build of dist/ here for the
// child-process tests; for now it only checks the Node version the project needs.
export default function setup(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) throw new Error(`breakerbox needs Node.js >= 20, found ${process.versions.node}`);
}

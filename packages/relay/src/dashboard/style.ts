/** The dashboard's stylesheet, served as /assets/dashboard.css (no inline styles: the CSP forbids them). */
export const DASHBOARD_CSS = `
:root { --green: #2f7d32; --amber: #b26a00; --red: #b3261e; --ink: #1d2320; --muted: #5c665f; --line: #d9dfda; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--ink); background: #f6f8f6; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; background: #fff; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.1rem; margin: 0; } header h1 a { color: var(--green); text-decoration: none; }
header nav a { margin-right: .8rem; } .signin, header form { margin-left: auto; }
main { max-width: 980px; margin: 0 auto; padding: 1rem 1.2rem 3rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .4rem 1.2rem 1rem; margin: 1rem 0; }
h2 { font-size: 1.15rem; } h3 { font-size: 1rem; margin-bottom: .3rem; }
.state strong { padding: .1rem .5rem; border-radius: 4px; color: #fff; background: var(--green); }
.state-paused strong, .state-outside-schedule strong { background: var(--amber); }
.state-hibernating strong { background: var(--muted); }
.figures { display: flex; flex-wrap: wrap; gap: 1.5rem; margin: .5rem 0; }
.figures dt { color: var(--muted); font-size: .85rem; } .figures dd { margin: 0; font-size: 1.3rem; font-weight: 600; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); }
tr.low td, tr.low th { background: #fff4e5; }
.ok { color: var(--green); font-weight: 700; } .bad, .error { color: var(--red); }
.hint, .help, figcaption { color: var(--muted); font-size: .88rem; }
.problem { background: #fdecea; border: 1px solid #f5c2bd; padding: .5rem .8rem; border-radius: 6px; }
.notice { background: #e8f3e9; border: 1px solid #b9d9bc; padding: .5rem .8rem; border-radius: 6px; }
.chart svg { max-width: 100%; height: auto; } .chart .from, .key.from { fill: #3d8b40; color: #3d8b40; }
.chart .to, .key.to { fill: #9ccc9f; color: #9ccc9f; } .axis { stroke: var(--muted); } .tick { font-size: 10px; fill: var(--muted); }
meter { width: 240px; height: 1rem; vertical-align: middle; }
form.inline { display: inline; } button { font: inherit; padding: .3rem .9rem; cursor: pointer; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 1rem; }
.field { margin: .5rem 0 .9rem; } .field label { display: block; font-weight: 600; }
.field input, .field select, .field textarea { font: inherit; padding: .3rem; min-width: 16rem; }
.field.invalid input, .field.invalid textarea, .field.invalid select { border: 2px solid var(--red); }
.field .error { margin: .2rem 0; font-weight: 600; } .field .help { margin: .2rem 0; }
`;

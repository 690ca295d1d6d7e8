/** The dashboard's HTML: the page (filled by its script) and the login form. */

export interface AssetUrls {
  uplotJs: string;
  uplotCss: string;
  appJs: string;
  appCss: string;
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const chart = (id: string, caption: string) =>
  `<figure><figcaption>${caption}</figcaption><div class="chart" id="${id}"></div></figure>`;

const table = (id: string, title: string, columns: string[]) =>
  `<div><h2>${title}</h2><table id="${id}"><thead><tr>${columns.map((c) => `<th>${c}</th>`).join("")}</tr></thead><tbody></tbody></table></div>`;

export function dashboardPage(assets: AssetUrls, canLogOut: boolean): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bedrock-claude gateway</title>
<link rel="stylesheet" href="${assets.uplotCss}">
<link rel="stylesheet" href="${assets.appCss}">
<script src="${assets.uplotJs}" defer></script>
<script src="${assets.appJs}" defer></script>
</head>
<body>
<header>
<h1>bedrock-claude gateway</h1>
<nav id="windows" aria-label="Window"><button type="button" data-since="24h">24 h</button><button type="button" data-since="7d">7 days</button><button type="button" data-since="30d">30 days</button><button type="button" data-since="90d">90 days</button></nav>
<span id="status" role="status">Loading…</span>
${canLogOut ? `<form method="post" action="/dashboard/logout"><button type="submit">Log out</button></form>` : ""}
</header>
<main>
<section class="tiles">
<div class="tile"><h2>Spend</h2><p id="total-spend">–</p><small id="unpriced"></small></div>
<div class="tile"><h2>Requests</h2><p id="total-requests">–</p></div>
<div class="tile"><h2>Tokens</h2><p id="total-tokens">–</p><small id="tokens-split"></small></div>
<div class="tile"><h2>Error rate</h2><p id="error-rate">–</p><small id="error-count"></small></div>
<div class="tile"><h2>Throttle rate</h2><p id="throttle-rate">–</p></div>
<div class="tile"><h2>Time to first byte p50 / p95</h2><p id="ttfb">–</p></div>
</section>
<section class="charts">
${chart("chart-spend-model", "Spend by model")}
${chart("chart-spend-key", "Spend by key")}
${chart("chart-spend-region", "Spend by region")}
${chart("chart-tokens-model", "Tokens by model")}
${chart("chart-tokens-key", "Tokens by key")}
${chart("chart-tokens-region", "Tokens by region")}
${chart("chart-rates", "Error and throttle rates")}
${chart("chart-ttfb", "Time to first byte")}
</section>
<section class="tables">
${table("top-keys", "Top keys by spend", ["Key", "Spend", "Share", "Requests", "Tokens", "Errors"])}
${table("budgets", "Budget burn", ["Budget", "Mode", "Spent", "Reserved", "Limit", "Burn", ""])}
${table("breakers", "Circuit breakers", ["Target", "State"])}
</section>
</main>
<footer id="footnote"></footer>
</body>
</html>`;
}

export function loginPage(appCss: string, message?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bedrock-claude gateway: log in</title>
<link rel="stylesheet" href="${appCss}">
</head>
<body>
<form class="login" method="post" action="/dashboard/login">
<h1>bedrock-claude gateway</h1>
<p>The dashboard needs an admin key.</p>
${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : ""}
<label for="key">Admin key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
</form>
</body>
</html>`;
}

/*! <rebate-card>: one dealer's rebates for one program, for a CRM page or a partner portal.
 *
 * Dependency-free: a custom element with a shadow root; no library, no CDN, no inline style
 * or script (the card works under a host page's strict Content-Security-Policy).
 *
 *   <script src="https://rebates.example.com/embed/rebate-card.js" defer></script>
 *   <rebate-card dealer="D001" program="DEMO-COLLECT" lang="zh-CN"></rebate-card>
 *   <script>document.querySelector("rebate-card").getToken = () => myApp.rebateToken();</script>
 *
 * Attributes: endpoint (the service's /graphql URL; default: the origin this script came
 * from), dealer, program, lang (zh-CN | en), period (optional, e.g. 2026-Q3; default: the
 * program's period that contains today), poll-interval (seconds, default 30, at least 5).
 * Properties: token (a bearer token) or getToken (a function returning one, or a promise of
 * one: called before every request and every socket connection, so it may refresh). The
 * token is never read from an attribute and never put into a URL.
 * Read-only properties: state ("idle" | "waiting" | "loading" | "ready" | "error"),
 * liveMode ("off" | "connecting" | "subscription" | "polling"). Method: refresh().
 * Events (bubbling, composed): rebate-card-ready, rebate-card-error (detail: {kind, message}).
 *
 * Live updates: the accrualUpdates subscription over the graphql-transport-ws protocol on
 * the endpoint (ws:// or wss://), the token in connection_init's payload; every pushed
 * update re-fetches the card's query. If the socket cannot be used, the card polls every
 * poll-interval seconds and tries the socket again later.
 */
(function () {
  "use strict";

  if (typeof window === "undefined" || !window.customElements ||
      window.customElements.get("rebate-card")) {
    return;
  }

  var SCRIPT = document.currentScript && document.currentScript.src;
  var DEFAULT_ENDPOINT = SCRIPT ? new URL("/graphql", SCRIPT).href : null;
  var WS_PROTOCOL = "graphql-transport-ws";
  var DEFAULT_POLL_SECONDS = 30;
  var MIN_POLL_SECONDS = 5;
  var ACK_TIMEOUT_MS = 10000;
  var PING_EVERY_MS = 25000;
  var PONG_TIMEOUT_MS = 10000;
  var RECONNECT_MIN_MS = 5000;
  var RECONNECT_MAX_MS = 300000;
  var REFRESH_DEBOUNCE_MS = 250;
  var EXPIRED_AFTER_MS = 60000;
  var CHART_PERIODS = 12;

  // ---------------------------------------------------------------------------------------
  // Texts. {name} is replaced by a formatted figure.
  var TEXTS = {
    "zh-CN": {
      title: "返利",
      loading: "正在加载返利数据…",
      waiting: "等待页面提供访问令牌…",
      periodLabel: "本期",
      basis: {SALES_AMOUNT: "本期销售额", QUANTITY: "本期销量",
              COLLECTED_AMOUNT: "本期回款额"},
      cumulative: {SALES_AMOUNT: "年度累计销售额", QUANTITY: "年度累计销量",
                   COLLECTED_AMOUNT: "年度累计回款额"},
      net: "本期返利净额",
      status: "状态",
      statuses: {OPEN: "进行中", ON_HOLD: "暂缓", APPROVED: "已审批", DISPUTED: "争议中",
                 SETTLED: "已结算", FORFEITED: "已没收"},
      noAccrual: "本期暂无返利记录。",
      tiers: "档位进度",
      currentRate: "当前档返利",
      belowFirst: "尚未达到第一档。",
      nextTier: "下一档 {threshold}",
      topTier: "已达最高档",
      barText: "当前 {current}，下一档 {threshold}，已完成 {percent}",
      barTextTop: "当前 {current}，已达最高档",
      forecast: {SALES_AMOUNT: "再销售 {amount} 即可达到下一档, 多得 {more}",
                 QUANTITY: "再销售 {amount} 即可达到下一档, 多得 {more}",
                 COLLECTED_AMOUNT: "再回款 {amount} 即可达到下一档, 多得 {more}"},
      forecastOrder: "单笔订单满 {amount} 即可多得 {more}",
      forecastTop: "已达最高档，继续销售按当前档计算返利。",
      target: "任务完成情况",
      achievement: "任务完成率",
      targetAmount: "任务",
      toTarget: "距完成任务还差",
      noTarget: "本期尚未设定任务。",
      chart: "各期返利净额",
      chartSummary: "各期返利净额：{list}",
      chartEmpty: "暂无各期返利。",
      account: "返利账户",
      balance: "余额",
      available: "可用",
      units: "{n} 件",
      perUnit: "{money}/件",
      updated: "更新于 {time}",
      live: {subscription: "实时更新", polling: "每 {seconds} 秒刷新",
             connecting: "正在连接实时更新…", off: ""},
      retry: "重试",
      errors: {
        unauthorized: "访问令牌无效或已过期，无法显示返利。请重新登录后再试。",
        tokenFailed: "页面未能提供访问令牌，稍后将自动重试。",
        forbidden: "此令牌无权查看这些返利。",
        noDealer: "找不到经销商 {dealer} 的返利（经销商不存在，或此令牌无权查看）。",
        noProgram: "找不到返利政策 {program}（政策不存在，或不适用于此经销商）。",
        notEligible: "经销商 {dealer} 不参与返利政策 {program}。",
        network: "无法连接返利服务，请检查网络后重试。",
        networkCors: "无法连接返利服务 {origin}：网络不通，或该服务未允许此页面的来源 {page}（REBATES_CORS_ORIGINS）。",
        rateLimited: "请求过于频繁，请稍后再试。",
        unavailable: "返利服务暂时不可用，请稍后再试。",
        badResponse: "返利服务的回答无法读取（HTTP {status}）。",
        service: "返利服务拒绝了请求：{message}",
        config: "返利卡片配置有误：{message}",
      },
      config: {
        endpoint: "缺少 endpoint 属性（返利服务的 /graphql 地址）",
        endpointScheme: "endpoint 必须是 http(s) 地址",
        dealer: "缺少 dealer 属性",
        program: "缺少 program 属性",
        period: "period 属性格式应为 2026、2026-Q1 或 2026-03",
      },
    },
    en: {
      title: "Rebates",
      loading: "Loading rebates…",
      waiting: "Waiting for the page to provide an access token…",
      periodLabel: "Period",
      basis: {SALES_AMOUNT: "Sales this period", QUANTITY: "Units this period",
              COLLECTED_AMOUNT: "Collected this period"},
      cumulative: {SALES_AMOUNT: "Sales year to date", QUANTITY: "Units year to date",
                   COLLECTED_AMOUNT: "Collected year to date"},
      net: "Net rebate this period",
      status: "Status",
      statuses: {OPEN: "Open", ON_HOLD: "On hold", APPROVED: "Approved", DISPUTED: "Disputed",
                 SETTLED: "Settled", FORFEITED: "Forfeited"},
      noAccrual: "No accrual for this period yet.",
      tiers: "Tier progress",
      currentRate: "Current tier",
      belowFirst: "Below the first tier so far.",
      nextTier: "Next tier at {threshold}",
      topTier: "Top tier reached",
      barText: "{current} of {threshold} for the next tier ({percent})",
      barTextTop: "{current}: top tier reached",
      forecast: {SALES_AMOUNT: "Sell {amount} more to earn {more} more",
                 QUANTITY: "Sell {amount} more to earn {more} more",
                 COLLECTED_AMOUNT: "Collect {amount} more to earn {more} more"},
      forecastOrder: "An order of at least {amount} earns {more} more",
      forecastTop: "Top tier reached: further sales earn the current rate.",
      target: "Target",
      achievement: "Target achievement",
      targetAmount: "Target",
      toTarget: "Still to reach the target",
      noTarget: "No target set for this period yet.",
      chart: "Net rebate by period",
      chartSummary: "Net rebate by period: {list}",
      chartEmpty: "No periods yet.",
      account: "Rebate account",
      balance: "Balance",
      available: "Available",
      units: "{n} units",
      perUnit: "{money} per unit",
      updated: "Updated {time}",
      live: {subscription: "Live", polling: "Refreshes every {seconds} s",
             connecting: "Connecting live updates…", off: ""},
      retry: "Retry",
      errors: {
        unauthorized: "The access token was refused (invalid or expired): no rebates can be " +
          "shown. Sign in again, then retry.",
        forbidden: "This token may not see these rebates.",
        tokenFailed: "The page could not provide an access token; the card tries again " +
          "shortly.",
        noDealer: "No rebates found for dealer {dealer} (no such dealer, or this token may " +
          "not see it).",
        noProgram: "No rebate program {program} (no such program, or it does not apply to " +
          "this dealer).",
        notEligible: "Dealer {dealer} takes no part in program {program}.",
        network: "The rebate service cannot be reached. Check the network, then retry.",
        networkCors: "The rebate service at {origin} cannot be reached: the network is down, " +
          "or the service does not allow this page's origin {page} (REBATES_CORS_ORIGINS).",
        rateLimited: "Too many requests: retry in a moment.",
        unavailable: "The rebate service is unavailable for the moment: retry shortly.",
        badResponse: "The rebate service's answer could not be read (HTTP {status}).",
        service: "The rebate service refused the request: {message}",
        config: "The rebate card is set up wrongly: {message}",
      },
      config: {
        endpoint: "no endpoint attribute (the service's /graphql URL)",
        endpointScheme: "endpoint must be an http(s) URL",
        dealer: "no dealer attribute",
        program: "no program attribute",
        period: "period must look like 2026, 2026-Q1 or 2026-03",
      },
    },
  };

  function language(tag) {
    var value = String(tag || "").trim().toLowerCase();
    return value.indexOf("zh") === 0 ? "zh-CN" : "en";
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
  }

  // ---------------------------------------------------------------------------------------
  // Decimals arrive as strings ("1234.50"); differences are computed exactly.
  function scaled(text) {
    var match = /^(-)?(\d+)(?:\.(\d+))?$/.exec(String(text).trim());
    if (!match) {
      throw new Error("not a decimal: " + text);
    }
    return {sign: match[1] ? -1n : 1n, digits: match[2] + (match[3] || ""),
            scale: (match[3] || "").length};
  }

  function decimalSub(a, b) {
    var x = scaled(a), y = scaled(b);
    var scale = Math.max(x.scale, y.scale);
    var big = function (v) {
      return v.sign * BigInt(v.digits) * (10n ** BigInt(scale - v.scale));
    };
    var result = big(x) - big(y);
    var negative = result < 0n;
    var digits = (negative ? -result : result).toString().padStart(scale + 1, "0");
    var whole = digits.slice(0, digits.length - scale);
    var fraction = scale ? "." + digits.slice(digits.length - scale) : "";
    return (negative ? "-" : "") + whole + fraction;
  }

  function num(text) {
    return text === null || text === undefined ? null : Number(text);
  }

  // ---------------------------------------------------------------------------------------
  // Periods: MONTH 2026-03, QUARTER 2026-Q1, YEAR 2026.
  var PERIOD_PATTERN = /^\d{4}(?:-Q[1-4]|-(?:0[1-9]|1[0-2]))?$/;

  function isoToday() {
    var now = new Date();
    return now.getFullYear() + "-" + String(now.getMonth() + 1).padStart(2, "0") + "-" +
      String(now.getDate()).padStart(2, "0");
  }

  function periodOf(kind, isoDate) {
    var year = isoDate.slice(0, 4), month = Number(isoDate.slice(5, 7));
    if (kind === "MONTH") {
      return year + "-" + String(month).padStart(2, "0");
    }
    if (kind === "QUARTER") {
      return year + "-Q" + Math.ceil(month / 3);
    }
    return year;
  }

  function currentPeriod(program) {
    var today = isoToday();
    var day = today < program.validFrom ? program.validFrom
      : today > program.validTo ? program.validTo : today;
    return periodOf(program.periodKind, day);
  }

  function shortPeriod(period) {
    return period.length > 4 ? period.slice(5) : period;
  }

  // ---------------------------------------------------------------------------------------
  // GraphQL.
  var PROGRAM_QUERY = "query RebateCardProgram($program: String!) { program(code: $program) " +
    "{ code periodKind validFrom validTo } }";
  var CARD_QUERY = [
    "query RebateCard($dealer: String!, $program: String!, $period: String!,",
    "    $chartPeriods: Int!) {",
    "  program(code: $program) {",
    "    code name basis rateKind tierMeasure tierEvaluation periodKind accumulation",
    "    validFrom validTo currency",
    "  }",
    "  dealer(code: $dealer) {",
    "    code name",
    "    accruals(programCode: $program, last: $chartPeriods) {",
    "      edges { node { period basis cumulativeBasis netAmount status target",
    "        achievementPercent } }",
    "    }",
    "    rebateAccounts { currency balance available }",
    "  }",
    "  rebateForecast(dealerCode: $dealer, programCode: $program, period: $period,",
    "      additionalBasis: \"0\") {",
    "    period scope currency currentBasis currentRate currentRebate nextTierThreshold",
    "    amountToNextTier rebateAtNextTier target achievementPercent amountToTarget",
    "  }",
    "}",
  ].join("\n");
  var SUBSCRIPTION = "subscription RebateCardUpdates($dealerCode: String!, " +
    "$programCode: String!) { accrualUpdates(dealerCode: $dealerCode, " +
    "programCode: $programCode) { __typename } }";

  // Errors a later attempt may not meet: the card keeps polling and recovers by itself.
  var TRANSIENT = {network: true, networkCors: true, rateLimited: true, unavailable: true,
                   badResponse: true, tokenFailed: true};

  function CardError(kind, values) {
    this.kind = kind;
    this.values = values || {};
  }

  function bare(token) {
    return String(token || "").trim().replace(/^Bearer\s+/i, "");
  }

  async function graphql(endpoint, token, lang, query, variables, signal) {
    var response;
    try {
      response = await fetch(endpoint, {
        method: "POST", mode: "cors", credentials: "omit", cache: "no-store",
        referrerPolicy: "no-referrer", signal: signal,
        headers: {"Content-Type": "application/json",
                  "Accept": "application/graphql-response+json, application/json",
                  "Accept-Language": lang,
                  "Authorization": "Bearer " + token},
        body: JSON.stringify({query: query, variables: variables}),
      });
    } catch (error) {
      if (error && error.name === "AbortError") {
        throw error;
      }
      throw new CardError("network");
    }
    var body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    var errors = body && Array.isArray(body.errors) ? body.errors : [];
    var first = errors[0] || {};
    var code = first.extensions && first.extensions.code;
    if (response.status === 401 || code === "UNAUTHENTICATED") {
      throw new CardError("unauthorized");
    }
    if (response.status === 403 || code === "FORBIDDEN") {
      throw new CardError("forbidden");
    }
    if (response.status === 429 || code === "RATE_LIMITED") {
      throw new CardError("rateLimited");
    }
    if (response.status >= 500 || code === "UNAVAILABLE" || code === "TIMEOUT") {
      throw new CardError("unavailable");
    }
    if (!body || typeof body !== "object" || (!body.data && !errors.length)) {
      throw new CardError("badResponse", {status: String(response.status)});
    }
    if (errors.length) {
      var message = String(first.message || code || "").slice(0, 300);
      throw new CardError("service", {message: message});
    }
    return body.data;
  }

  // ---------------------------------------------------------------------------------------
  // The graphql-transport-ws protocol (client side), one subscription per socket.
  // https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
  function LiveClient(url, token, query, variables, handlers) {
    this.handlers = handlers;
    this.closed = false;
    this.readyAt = 0;
    var self = this;
    try {
      this.socket = new WebSocket(url, WS_PROTOCOL);
    } catch (error) {
      setTimeout(function () { self.fail({fatal: false, reason: "socket"}); }, 0);
      return;
    }
    var socket = this.socket;
    this.ackTimer = setTimeout(function () {
      self.fail({fatal: false, reason: "no connection_ack"});
    }, ACK_TIMEOUT_MS);
    socket.onopen = function () {
      if (socket.protocol && socket.protocol !== WS_PROTOCOL) {
        self.fail({fatal: true, reason: "protocol " + socket.protocol});
        return;
      }
      self.send({type: "connection_init", payload: {authorization: "Bearer " + token}});
    };
    socket.onmessage = function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        self.fail({fatal: false, reason: "unreadable message"});
        return;
      }
      switch (message && message.type) {
        case "connection_ack":
          clearTimeout(self.ackTimer);
          self.readyAt = Date.now();
          self.send({id: "1", type: "subscribe",
                     payload: {query: query, variables: variables}});
          self.keepAlive();
          self.handlers.ready();
          break;
        case "ping":
          self.send(message.payload === undefined ? {type: "pong"}
            : {type: "pong", payload: message.payload});
          break;
        case "pong":
          clearTimeout(self.pongTimer);
          break;
        case "next":
          self.handlers.next(message.payload);
          break;
        case "error":  // the subscription was refused (e.g. another dealer's code)
          self.fail({fatal: true, reason: "subscription refused"});
          break;
        case "complete":
          self.fail({fatal: false, reason: "completed by the server"});
          break;
        default:
          break;
      }
    };
    socket.onerror = function () {
      self.fail({fatal: false, reason: "socket error"});
    };
    socket.onclose = function (event) {
      // 4400 bad request, 4401 unauthorized, 4403 forbidden: trying again will not help
      var fatal = event.code === 4400 || event.code === 4401 || event.code === 4403;
      // ... unless the socket had long been accepted: then its token has expired, and
      // getToken (called again before the next connection) may give a fresh one.
      if (fatal && event.code !== 4400 && self.readyAt &&
          Date.now() - self.readyAt > EXPIRED_AFTER_MS) {
        fatal = false;
      }
      self.fail({fatal: fatal, reason: "closed " + event.code});
    };
  }

  LiveClient.prototype.send = function (message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  };

  LiveClient.prototype.keepAlive = function () {
    var self = this;
    this.pingTimer = setInterval(function () {
      self.send({type: "ping"});
      clearTimeout(self.pongTimer);
      self.pongTimer = setTimeout(function () {
        self.fail({fatal: false, reason: "no pong"});
      }, PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  };

  LiveClient.prototype.stop = function () {
    if (this.closed) {
      return;
    }
    this.closed = true;
    clearTimeout(this.ackTimer);
    clearTimeout(this.pongTimer);
    clearInterval(this.pingTimer);
    if (this.socket) {
      if (this.readyAt) {
        this.send({id: "1", type: "complete"});  // subscribed: end it before closing
      }
      this.socket.onopen = this.socket.onmessage = this.socket.onerror = null;
      this.socket.onclose = null;
      if (this.socket.readyState <= WebSocket.OPEN) {
        this.socket.close(1000, "bye");
      }
    }
  };

  LiveClient.prototype.fail = function (why) {
    if (this.closed) {
      return;
    }
    this.stop();
    this.handlers.failed(why);
  };

  // ---------------------------------------------------------------------------------------
  // Styles: a constructed stylesheet (not subject to the host page's style-src), or a
  // <style> element in the shadow root where constructed stylesheets are not supported.
  var CSS = [
    ":host { all: initial; display: block; contain: content; max-width: 30rem; }",
    ":host([hidden]) { display: none; }",
    "*, *::before, *::after { box-sizing: border-box; }",
    "[hidden] { display: none !important; }",
    // Everything the host page could pass down by inheritance is set here again.
    ".card { background: #ffffff; border: 1px solid #cbd2d9; border-radius: 8px;",
    "  padding: 16px; color: #1f2933; font-size: 14px; font-weight: 400;",
    "  font-style: normal; line-height: 1.45; letter-spacing: normal; text-align: start;",
    "  text-transform: none; word-spacing: normal; visibility: visible;",
    "  font-family: system-ui, -apple-system, 'Segoe UI', 'PingFang SC', 'Hiragino Sans GB',",
    "    'Microsoft YaHei', 'Noto Sans CJK SC', 'Noto Sans SC', sans-serif; }",
    "header { display: flex; justify-content: space-between; align-items: flex-start;",
    "  gap: 12px; margin-bottom: 12px; }",
    "h2 { font-size: 16px; font-weight: 600; margin: 0; color: #102a43; }",
    "h3 { font-size: 13px; font-weight: 600; margin: 0 0 6px; color: #243b53; }",
    ".sub { margin: 2px 0 0; color: #486581; font-size: 13px; }",
    ".period { white-space: nowrap; }",
    ".live { flex: none; font-size: 12px; color: #486581; white-space: nowrap; }",
    ".live[data-mode=subscription] { color: #046c4e; }",
    ".live[data-mode=subscription]::before { content: ''; display: inline-block;",
    "  width: 8px; height: 8px; border-radius: 50%; background: #057a55;",
    "  margin-inline-end: 4px; }",
    ".notice { margin: 8px 0; color: #486581; }",
    ".error { margin: 8px 0; padding: 10px 12px; border: 1px solid #f8b4b4;",
    "  border-radius: 6px; background: #fdf2f2; color: #8a1c1c; }",
    ".error p { margin: 0 0 8px; }",
    "button { font: inherit; font-size: 13px; padding: 4px 12px; border-radius: 4px;",
    "  border: 1px solid #8a1c1c; background: #ffffff; color: #8a1c1c; cursor: pointer; }",
    "button:focus-visible, .bar:focus-visible, svg:focus-visible {",
    "  outline: 3px solid #1a56db; outline-offset: 2px; }",
    "dl { margin: 0; display: grid; grid-template-columns: repeat(2, minmax(0, 1fr));",
    "  gap: 8px 16px; }",
    "dl > div { min-width: 0; }",
    "dt { font-size: 12px; color: #486581; }",
    "dd { margin: 0; font-size: 15px; font-weight: 600; color: #102a43;",
    "  font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }",
    "dd.net { font-size: 18px; color: #03543f; }",
    "dd.net[data-negative] { color: #9b1c1c; }",
    "dd.net[data-zero] { color: #102a43; }",
    "section { margin-top: 16px; }",
    ".bar { position: relative; height: 14px; border-radius: 7px; background: #d9e2ec;",
    "  overflow: hidden; border: 1px solid #9fb3c8; }",
    ".fill { height: 100%; width: 0; background: #1a56db; border-radius: 7px 0 0 7px;",
    "  transition: width 600ms ease-out; }",
    ".bar[data-top] .fill { background: #057a55; border-radius: 7px; }",
    ".scale { display: flex; justify-content: space-between; gap: 8px; margin: 4px 0 0;",
    "  font-size: 12px; color: #486581; font-variant-numeric: tabular-nums; }",
    ".forecast { margin: 8px 0 0; padding: 8px 10px; border-radius: 6px;",
    "  background: #ebf5ff; color: #1e429f; font-weight: 600; }",
    ".forecast[data-top] { background: #def7ec; color: #03543f; }",
    ".rate { margin: 6px 0 0; font-size: 12px; color: #486581; }",
    "svg { display: block; width: 100%; height: auto; overflow: visible; }",
    "svg text { font-size: 10px; fill: #486581; font-family: inherit; }",
    "svg .value { fill: #243b53; }",
    "svg .bar-pos { fill: #1a56db; }",
    "svg .bar-neg { fill: #c81e1e; }",
    "svg .current-label { fill: #102a43; font-weight: 700; }",
    "svg .axis { stroke: #627d98; stroke-width: 1; }",
    "footer { margin-top: 12px; font-size: 12px; color: #486581; }",
    ".flash { animation: flash 1.2s ease-out; }",
    "@keyframes flash { from { background: #fdf6b2; } to { background: transparent; } }",
    "@media (prefers-reduced-motion: reduce) {",
    "  .fill { transition: none; }",
    "  .flash { animation: none; }",
    "}",
  ].join("\n");

  var SHEET = null;
  function styleSheet() {
    if (SHEET === null) {
      try {
        SHEET = new CSSStyleSheet();
        SHEET.replaceSync(CSS);
      } catch (error) {
        SHEET = false;
      }
    }
    return SHEET;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    setAttributes(node, attributes);
    append(node, children);
    return node;
  }

  function svg(tag, attributes, children) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttributes(node, attributes);
    append(node, children);
    return node;
  }

  function setAttributes(node, attributes) {
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined || value === false) {
        return;
      }
      if (name === "text") {
        node.textContent = value;
      } else {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    });
  }

  function append(node, children) {
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined && child !== false) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
  }

  var ids = 0;

  // ---------------------------------------------------------------------------------------
  class RebateCard extends HTMLElement {
    static get observedAttributes() {
      return ["endpoint", "dealer", "program", "lang", "period", "poll-interval"];
    }

    constructor() {
      super();
      this._token = null;
      this._getToken = null;
      this._state = "idle";
      this._liveMode = "off";
      this._generation = 0;
      this._program = null;   // {code, periodKind, validFrom, validTo} of the loaded program
      this._data = null;
      this._abort = null;
      this._live = null;
      this._liveGeneration = 0;
      this._reconnects = 0;
      this._reconnectTimer = null;
      this._pollTimer = null;
      this._refreshTimer = null;
      this._inFlight = null;
      this._again = false;
      this._connected = false;
      this._restartQueued = false;
      this._liveRefused = false;
      this._uid = "rc" + (++ids);
      this._onVisibility = this._onVisibility.bind(this);
      var root = this.attachShadow({mode: "open"});
      var sheet = styleSheet();
      if (sheet) {
        root.adoptedStyleSheets = [sheet];
      } else {
        root.appendChild(el("style", {text: CSS}));
      }
      this._build();
    }

    // -- public API ------------------------------------------------------------------------

    get token() {
      return this._token;
    }

    set token(value) {
      this._token = value ? String(value) : null;
      this._restart();
    }

    get getToken() {
      return this._getToken;
    }

    set getToken(callback) {
      this._getToken = typeof callback === "function" ? callback : null;
      this._restart();
    }

    get state() {
      return this._state;
    }

    get liveMode() {
      return this._liveMode;
    }

    refresh() {
      return this._refresh();
    }

    // -- lifecycle -------------------------------------------------------------------------

    connectedCallback() {
      // Properties set on the element before this script defined it shadow the accessors.
      ["token", "getToken"].forEach(function (name) {
        if (Object.prototype.hasOwnProperty.call(this, name)) {
          var value = this[name];
          delete this[name];
          this[name] = value;
        }
      }, this);
      if (this.hasAttribute("token")) {
        console.warn("<rebate-card>: the token attribute is ignored; set the token or " +
                     "getToken property instead (a token in an attribute is visible to " +
                     "every script and stylesheet on the page)");
      }
      document.addEventListener("visibilitychange", this._onVisibility);
      this._connected = true;
      this._restart();
    }

    disconnectedCallback() {
      this._connected = false;
      document.removeEventListener("visibilitychange", this._onVisibility);
      this._stopAll();
      this._generation++;
    }

    attributeChangedCallback(name, before, after) {
      if (before === after || !this._connected) {
        return;  // attributes given at creation: connectedCallback loads once with all
      }
      if (name === "lang" && this._data) {
        this._render();  // the figures stay, the words and formats change
        return;
      }
      if (name === "poll-interval" && this._pollTimer) {
        this._startPolling();
        this._renderLive();
        return;
      }
      this._restart();
    }

    // -- settings --------------------------------------------------------------------------

    get _lang() {
      var given = this.getAttribute("lang") ||
        (this.closest("[lang]") || document.documentElement).getAttribute("lang") ||
        navigator.language;
      return language(given);
    }

    get _t() {
      return TEXTS[this._lang];
    }

    get _pollSeconds() {
      var given = Number(this.getAttribute("poll-interval"));
      return given > 0 ? Math.max(MIN_POLL_SECONDS, given) : DEFAULT_POLL_SECONDS;
    }

    _settings() {
      var t = this._t.config;
      var endpoint = (this.getAttribute("endpoint") || DEFAULT_ENDPOINT || "").trim();
      var dealer = (this.getAttribute("dealer") || "").trim();
      var program = (this.getAttribute("program") || "").trim();
      var period = (this.getAttribute("period") || "").trim();
      if (!endpoint) {
        throw new CardError("config", {message: t.endpoint});
      }
      var url;
      try {
        url = new URL(endpoint, document.baseURI);
      } catch (error) {
        throw new CardError("config", {message: t.endpointScheme});
      }
      if (url.protocol !== "https:" && url.protocol !== "http:") {
        throw new CardError("config", {message: t.endpointScheme});
      }
      if (!dealer) {
        throw new CardError("config", {message: t.dealer});
      }
      if (!program) {
        throw new CardError("config", {message: t.program});
      }
      if (period && !PERIOD_PATTERN.test(period)) {
        throw new CardError("config", {message: t.period});
      }
      var socket = new URL(url.href);
      socket.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      return {endpoint: url.href, socket: socket.href, dealer: dealer, program: program,
              period: period || null};
    }

    async _resolveToken() {
      var token = this._token;
      if (this._getToken) {
        token = await this._getToken();
      }
      return token ? bare(token) : null;
    }

    // -- loading ---------------------------------------------------------------------------

    _restart() {
      // Several attributes or properties set in a row make one load, with all of them.
      if (!this._connected || this._restartQueued) {
        return;
      }
      this._restartQueued = true;
      var self = this;
      queueMicrotask(function () {
        self._restartQueued = false;
        if (self._connected) {
          self._restartNow();
        }
      });
    }

    _restartNow() {
      this._stopAll();
      this._liveRefused = false;
      this._generation++;
      this._program = null;
      this._data = null;
      this._reconnects = 0;
      this._load(true);
    }

    _stopAll() {
      if (this._abort) {
        this._abort.abort();
        this._abort = null;
      }
      this._stopLive();
      this._stopPolling();
      clearTimeout(this._refreshTimer);
      clearTimeout(this._reconnectTimer);
      this._setLiveMode("off");
    }

    _refresh() {
      if (!this.isConnected) {
        return Promise.resolve();
      }
      if (this._inFlight) {
        this._again = true;  // one more load once this one is in
        return this._inFlight;
      }
      return this._load(false);
    }

    _refreshSoon() {
      clearTimeout(this._refreshTimer);
      var self = this;
      this._refreshTimer = setTimeout(function () { self._refresh(); }, REFRESH_DEBOUNCE_MS);
    }

    _load(first) {
      var self = this;
      var run = this._loadOnce(first).finally(function () {
        if (self._inFlight === run) {
          self._inFlight = null;
        }
        if (self._again) {
          self._again = false;
          self._refresh();
        }
      });
      this._inFlight = run;
      return run;
    }

    async _loadOnce(first) {
      var generation = this._generation;
      var settings;
      try {
        settings = this._settings();
      } catch (error) {
        this._fail(error, null);
        return;
      }
      var token;
      try {
        token = await this._resolveToken();
      } catch (error) {
        if (generation === this._generation) {
          this._fail(new CardError("tokenFailed"), settings);  // the host's callback failed
        }
        return;
      }
      if (generation !== this._generation) {
        return;
      }
      if (!token) {
        this._setState("waiting");
        this._render();
        return;
      }
      if (first || !this._data) {
        this._setState("loading");
        this._render();
      }
      var abort = new AbortController();
      if (this._abort) {
        this._abort.abort();
      }
      this._abort = abort;
      var lang = this._lang;
      try {
        if (!this._program || this._program.code !== settings.program) {
          var found = await graphql(settings.endpoint, token, lang, PROGRAM_QUERY,
                                    {program: settings.program}, abort.signal);
          if (!found.program) {
            throw new CardError("noProgram");
          }
          this._program = found.program;
        }
        var period = settings.period || currentPeriod(this._program);
        var data = await graphql(settings.endpoint, token, lang, CARD_QUERY,
                                 {dealer: settings.dealer, program: settings.program,
                                  period: period, chartPeriods: CHART_PERIODS}, abort.signal);
        if (generation !== this._generation) {
          return;
        }
        if (!data.program) {
          throw new CardError("noProgram");
        }
        if (!data.dealer) {
          throw new CardError("noDealer");
        }
        if (!data.rebateForecast) {
          throw new CardError("notEligible");
        }
        this._program = data.program;
        var previous = this._data;
        this._data = {settings: settings, period: period, program: data.program,
                      dealer: data.dealer, forecast: data.rebateForecast,
                      at: new Date()};
        this._setState("ready");
        this._render(previous);
        this.dispatchEvent(new CustomEvent("rebate-card-ready", {
          bubbles: true, composed: true,
          detail: {dealer: settings.dealer, program: settings.program, period: period}}));
        if (!this._live && !this._reconnectTimer && !this._liveRefused) {
          this._connectLive(settings);
        } else if (this._liveRefused && !this._pollTimer) {
          this._fallBack(true);
        }
      } catch (error) {
        if (error && error.name === "AbortError") {
          return;
        }
        if (generation !== this._generation) {
          return;
        }
        this._fail(error, settings);
      } finally {
        if (this._abort === abort) {
          this._abort = null;
        }
      }
    }

    _fail(error, settings) {
      var kind = error instanceof CardError ? error.kind : "network";
      var values = error instanceof CardError ? Object.assign({}, error.values) : {};
      if (!(error instanceof CardError)) {
        console.error("<rebate-card>:", error);  // for the host's developers, not the user
      }
      if (settings) {
        values.dealer = values.dealer || settings.dealer;
        values.program = values.program || settings.program;
        var origin = new URL(settings.endpoint).origin;
        if (kind === "network" && origin !== window.location.origin) {
          kind = "networkCors";
          values.origin = origin;
          values.page = window.location.origin;
        }
      }
      var template = this._t.errors[kind] || this._t.errors.network;
      var message = fill(template, values);
      // No data from before stays on screen next to an error about this token or dealer.
      this._data = null;
      this._error = {kind: kind, message: message};
      this._stopAll();
      this._setState("error");
      if (TRANSIENT[kind]) {
        this._startPolling();  // the service may come back: the next poll recovers
      }
      this._render();
      this.dispatchEvent(new CustomEvent("rebate-card-error", {
        bubbles: true, composed: true, detail: {kind: kind, message: message}}));
    }

    _setState(state) {
      this._state = state;
      if (state !== "error") {
        this._error = null;
      }
    }

    // -- live updates ----------------------------------------------------------------------

    async _connectLive(settings) {
      var generation = this._generation;
      var liveGeneration = ++this._liveGeneration;
      var token;
      try {
        token = await this._resolveToken();
      } catch (error) {
        token = null;
      }
      if (generation !== this._generation || liveGeneration !== this._liveGeneration ||
          !token || typeof WebSocket === "undefined") {
        if (!token || typeof WebSocket === "undefined") {
          this._fallBack(true);
        }
        return;
      }
      this._setLiveMode(this._pollTimer ? "polling" : "connecting");
      var self = this;
      var current = function () {
        return generation === self._generation && liveGeneration === self._liveGeneration;
      };
      this._live = new LiveClient(settings.socket, token, SUBSCRIPTION,
                                  {dealerCode: settings.dealer, programCode: settings.program}, {
        ready: function () {
          if (!current()) {
            return;
          }
          var reconnected = self._reconnects > 0 || self._pollTimer;
          self._reconnects = 0;
          self._stopPolling();
          self._setLiveMode("subscription");
          if (reconnected) {
            self._refreshSoon();  // what changed while the socket was down
          }
        },
        next: function () {
          if (current()) {
            self._refreshSoon();
          }
        },
        failed: function (why) {
          if (!current()) {
            return;
          }
          self._live = null;
          self._fallBack(why.fatal);
        },
      });
    }

    _fallBack(fatal) {
      this._startPolling();
      this._setLiveMode("polling");
      if (fatal) {
        this._liveRefused = true;  // the socket refused this token or subscription
        return;
      }
      var delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * Math.pow(2, this._reconnects));
      this._reconnects++;
      var self = this;
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = setTimeout(function () {
        self._reconnectTimer = null;
        if (self._data) {
          self._connectLive(self._data.settings);
        }
      }, delay);
    }

    _stopLive() {
      this._liveGeneration++;
      if (this._live) {
        this._live.stop();
        this._live = null;
      }
    }

    _startPolling() {
      this._stopPolling();
      var self = this;
      this._pollTimer = setInterval(function () {
        if (!document.hidden) {
          self._refresh();
        }
      }, this._pollSeconds * 1000);
    }

    _stopPolling() {
      clearInterval(this._pollTimer);
      this._pollTimer = null;
    }

    _onVisibility() {
      if (!document.hidden && this._pollTimer) {
        this._refresh();  // a background tab skipped its polls
      }
    }

    _setLiveMode(mode) {
      this._liveMode = mode;
      this._renderLive();
    }

    // -- rendering -------------------------------------------------------------------------

    _build() {
      var id = this._uid;
      this._el = {};
      var e = this._el;
      e.title = el("h2", {id: id + "-title"});
      e.sub = el("p", {"class": "sub"});
      e.live = el("span", {"class": "live", "data-mode": "off"});
      e.notice = el("p", {"class": "notice", role: "status"});
      e.errorText = el("p");
      e.retry = el("button", {type: "button"});
      var self = this;
      e.retry.addEventListener("click", function () { self._restartNow(); });
      e.error = el("div", {"class": "error", role: "alert", hidden: true},
                   [e.errorText, e.retry]);
      e.body = el("div", {"class": "body", hidden: true});
      e.footer = el("footer");
      e.card = el("article", {"class": "card", "aria-labelledby": id + "-title",
                              "aria-busy": "false"},
                  [el("header", {}, [el("div", {}, [e.title, e.sub]), e.live]),
                   e.notice, e.error, e.body, e.footer]);
      this.shadowRoot.appendChild(e.card);
    }

    _render(previous) {
      var t = this._t;
      var e = this._el;
      var lang = this._lang;
      e.card.setAttribute("lang", lang);
      e.card.setAttribute("aria-busy", this._state === "loading" ? "true" : "false");
      e.retry.textContent = t.retry;
      var data = this._state === "ready" ? this._data : null;
      e.title.textContent = data ? t.title + " · " + data.program.name : t.title;
      e.sub.textContent = data ? data.dealer.name + " (" + data.dealer.code + ") · " : "";
      if (data) {
        append(e.sub, [el("span", {"class": "period", "data-field": "period",
                                   "data-value": data.period,
                                   text: t.periodLabel + " " + data.period})]);
      } else {
        e.sub.textContent = this.getAttribute("dealer") || "";
      }
      e.notice.hidden = !(this._state === "loading" || this._state === "waiting");
      e.notice.textContent = this._state === "waiting" ? t.waiting
        : this._state === "loading" ? t.loading : "";
      e.error.hidden = this._state !== "error";
      e.errorText.textContent = this._error ? this._error.message : "";
      e.body.hidden = !data;
      if (!data) {
        e.body.textContent = "";
        e.footer.textContent = "";
        this._renderLive();
        return;
      }
      var focused = this.shadowRoot.activeElement;
      var focusKey = focused && focused.getAttribute("data-focus");
      var previousFill = previous && previous.forecast && this._el.fill ?
        this._el.fill.style.width : null;
      e.body.textContent = "";
      append(e.body, [this._figures(data), this._tiers(data), this._target(data),
                      this._chart(data), this._account(data)]);
      if (previousFill !== null && this._el.fill) {
        var fillNode = this._el.fill, width = fillNode.style.width;
        fillNode.style.width = previousFill;  // animate from where the bar was
        void fillNode.offsetWidth;
        fillNode.style.width = width;
      }
      if (focusKey) {
        var again = this.shadowRoot.querySelector("[data-focus='" + focusKey + "']");
        if (again) {
          again.focus();
        }
      }
      this._flashChanges(previous, data);
      var time = new Intl.DateTimeFormat(lang, {timeStyle: "medium"}).format(data.at);
      e.footer.textContent = fill(t.updated, {time: time});
      this._renderLive();
    }

    _renderLive() {
      var t = this._t;
      var mode = this._state === "ready" ? this._liveMode : "off";
      this._el.live.setAttribute("data-mode", mode);
      this._el.live.textContent = fill(t.live[mode] || "", {seconds: this._pollSeconds});
    }

    _money(value, currency) {
      if (value === null || value === undefined) {
        return "–";
      }
      try {
        return new Intl.NumberFormat(this._lang, {style: "currency", currency: currency})
          .format(num(value));
      } catch (error) {  // an unknown currency code
        return new Intl.NumberFormat(this._lang, {minimumFractionDigits: 2,
                                                  maximumFractionDigits: 2})
          .format(num(value)) + " " + currency;
      }
    }

    _basis(value, data) {
      if (data.program.basis === "QUANTITY") {
        var n = new Intl.NumberFormat(this._lang, {maximumFractionDigits: 3}).format(num(value));
        return fill(this._t.units, {n: n});
      }
      return this._money(value, data.program.currency);
    }

    _percent(value) {
      return new Intl.NumberFormat(this._lang, {style: "percent", minimumFractionDigits: 0,
                                                maximumFractionDigits: 2})
        .format(num(value) / 100);
    }

    _rate(value, data) {
      if (data.program.rateKind === "PERCENT") {
        return new Intl.NumberFormat(this._lang, {style: "percent", maximumFractionDigits: 4})
          .format(num(value) / 100);
      }
      var money = this._money(value, data.program.currency);
      return data.program.rateKind === "PER_UNIT" ? fill(this._t.perUnit, {money: money})
        : money;
    }

    _figure(label, field, value, text, extra) {
      return el("div", {}, [
        el("dt", {text: label}),
        el("dd", Object.assign({"data-field": field, "data-value": value, text: text},
                               extra || {})),
      ]);
    }

    _accrual(data) {
      var edges = data.dealer.accruals.edges;
      for (var i = edges.length - 1; i >= 0; i--) {
        if (edges[i].node.period === data.period) {
          return edges[i].node;
        }
      }
      return null;
    }

    _figures(data) {
      var t = this._t;
      var accrual = this._accrual(data);
      var basisKind = data.program.basis;
      if (!accrual) {
        return el("p", {"class": "notice", "data-field": "no-accrual", text: t.noAccrual});
      }
      var negative = num(accrual.netAmount) < 0;
      var items = [
        this._figure(t.basis[basisKind], "basis", accrual.basis,
                     this._basis(accrual.basis, data)),
        data.program.accumulation === "YEAR_TO_DATE" ?
          this._figure(t.cumulative[basisKind], "cumulativeBasis", accrual.cumulativeBasis,
                       this._basis(accrual.cumulativeBasis, data)) : null,
        this._figure(t.net, "netAmount", accrual.netAmount,
                     this._money(accrual.netAmount, data.program.currency),
                     {"class": "net", "data-negative": negative,
                      "data-zero": num(accrual.netAmount) === 0}),
        this._figure(t.status, "status", accrual.status,
                     t.statuses[accrual.status] || accrual.status),
      ];
      return el("dl", {"class": "figures"}, items);
    }

    _tiers(data) {
      var t = this._t;
      var f = data.forecast;
      var id = this._uid + "-tiers";
      var each = data.program.tierEvaluation === "EACH_TRANSACTION";
      var current = f.currentBasis;
      var next = f.nextTierThreshold;
      var more = next !== null && f.rebateAtNextTier !== null ?
        decimalSub(f.rebateAtNextTier, f.currentRebate) : null;
      var sentence;
      if (next === null || more === null) {
        sentence = el("p", {"class": "forecast", "data-field": "forecast", "data-top": true,
                            text: t.forecastTop});
      } else {
        var amount = each ? next : f.amountToNextTier;
        var template = each ? t.forecastOrder : t.forecast[data.program.basis];
        sentence = el("p", {"class": "forecast", "data-field": "forecast",
                            "data-amount": amount, "data-more": more,
                            text: fill(template, {amount: this._basis(amount, data),
                                                  more: this._money(more, f.currency)})});
      }
      var rate = el("p", {"class": "rate", "data-field": "currentRate",
                          "data-value": f.currentRate,
                          text: num(f.currentRate) === 0 && !each ? t.belowFirst
                            : t.currentRate + " " + this._rate(f.currentRate, data)});
      if (each) {  // every order earns on its own: no total to fill a bar with, no rate
        this._el.fill = null;
        return el("section", {"aria-labelledby": id}, [
          el("h3", {id: id, text: t.tiers}), sentence]);
      }
      var top = next === null;
      var min = 0;
      var max = top ? Math.max(num(current), 0) : num(next);
      var now = Math.min(Math.max(num(current), min), max);
      var ratio = max > 0 ? now / max : (top ? 1 : 0);
      var percentText = new Intl.NumberFormat(this._lang, {style: "percent",
                                                           maximumFractionDigits: 1})
        .format(ratio);
      var valueText = top ? fill(t.barTextTop, {current: this._basis(current, data)})
        : fill(t.barText, {current: this._basis(current, data),
                           threshold: this._basis(next, data), percent: percentText});
      var fillNode = el("div", {"class": "fill"});
      fillNode.style.width = (ratio * 100).toFixed(2) + "%";
      this._el.fill = fillNode;
      var bar = el("div", {
        "class": "bar", role: "progressbar", tabindex: "0", "data-focus": "bar",
        "aria-labelledby": id, "aria-valuemin": String(min), "aria-valuemax": String(max),
        "aria-valuenow": String(now), "aria-valuetext": valueText,
        "data-current": current, "data-next": next, "data-top": top}, [fillNode]);
      var scale = el("p", {"class": "scale", "aria-hidden": "true"}, [
        el("span", {text: this._basis(current, data)}),
        el("span", {"data-field": "nextTier",
                    text: top ? t.topTier : fill(t.nextTier,
                                                 {threshold: this._basis(next, data)})}),
      ]);
      return el("section", {"aria-labelledby": id}, [
        el("h3", {id: id, text: t.tiers}), bar, scale, sentence, rate]);
    }

    _target(data) {
      if (data.program.tierMeasure !== "TARGET_ACHIEVEMENT") {
        return null;
      }
      var t = this._t;
      var f = data.forecast;
      var id = this._uid + "-target";
      if (f.target === null) {
        return el("section", {"aria-labelledby": id}, [
          el("h3", {id: id, text: t.target}),
          el("p", {"class": "notice", "data-field": "noTarget", text: t.noTarget})]);
      }
      return el("section", {"aria-labelledby": id}, [
        el("h3", {id: id, text: t.target}),
        el("dl", {}, [
          this._figure(t.achievement, "achievementPercent", f.achievementPercent,
                       this._percent(f.achievementPercent)),
          this._figure(t.targetAmount, "target", f.target, this._basis(f.target, data)),
          this._figure(t.toTarget, "amountToTarget", f.amountToTarget,
                       this._basis(f.amountToTarget, data)),
        ]),
      ]);
    }

    _chart(data) {
      var t = this._t;
      var id = this._uid + "-chart";
      var currency = data.program.currency;
      var rows = data.dealer.accruals.edges.map(function (edge) { return edge.node; });
      if (!rows.length) {
        return el("section", {"aria-labelledby": id}, [
          el("h3", {id: id, text: t.chart}), el("p", {"class": "notice", text: t.chartEmpty})]);
      }
      var self = this;
      var values = rows.map(function (row) { return num(row.netAmount); });
      var high = Math.max.apply(null, values.concat([0]));
      var low = Math.min.apply(null, values.concat([0]));
      var span = high - low || 1;
      var width = 320, height = 120, top = 16, bottom = 22, left = 4, right = 4;
      var plot = height - top - bottom;
      var zero = top + plot * (high / span);
      var slot = (width - left - right) / rows.length;
      var barWidth = Math.max(4, Math.min(40, slot * 0.6));
      var labelled = rows.length <= 6;
      var compact = new Intl.NumberFormat(this._lang, {notation: "compact",
                                                       maximumSignificantDigits: 3});
      var summary = rows.map(function (row) {
        return row.period + " " + self._money(row.netAmount, currency);
      }).join(self._lang === "zh-CN" ? "；" : "; ");
      var bars = rows.map(function (row, index) {
        var value = values[index];
        var x = left + slot * index + (slot - barWidth) / 2;
        var h = Math.abs(value) / span * plot;
        var y = value >= 0 ? zero - h : zero;
        var current = row.period === data.period;
        var labelY = height - 6;
        return svg("g", {"data-period": row.period, "data-value": row.netAmount}, [
          svg("rect", {x: x.toFixed(1), y: y.toFixed(1), width: barWidth.toFixed(1),
                       height: Math.max(h, 0.5).toFixed(1),
                       "class": value < 0 ? "bar-neg" : "bar-pos", rx: "2"}, [
            svg("title", {text: row.period + ": " + self._money(row.netAmount, currency)}),
          ]),
          labelled ? svg("text", {x: (x + barWidth / 2).toFixed(1),
                                  y: (value >= 0 ? y - 3 : y + h + 10).toFixed(1),
                                  "text-anchor": "middle", "class": "value",
                                  text: compact.format(value)}) : null,
          svg("text", {x: (x + barWidth / 2).toFixed(1), y: String(labelY),
                       "text-anchor": "middle", "class": current ? "current-label" : null,
                       text: shortPeriod(row.period)}),
        ]);
      });
      var chart = svg("svg", {viewBox: "0 0 " + width + " " + height, role: "img",
                              tabindex: "0", "data-focus": "chart",
                              "aria-label": fill(t.chartSummary, {list: summary}),
                              "data-field": "chart"},
                      [svg("line", {x1: left, x2: width - right, y1: zero.toFixed(1),
                                    y2: zero.toFixed(1), "class": "axis"})].concat(bars));
      return el("section", {"aria-labelledby": id}, [el("h3", {id: id, text: t.chart}),
                                                     chart]);
    }

    _account(data) {
      var accounts = data.dealer.rebateAccounts || [];
      if (!accounts.length) {
        return null;
      }
      var t = this._t;
      var id = this._uid + "-account";
      var self = this;
      var mine = accounts.filter(function (a) { return a.currency === data.program.currency; });
      var shown = mine.length ? mine.concat(accounts.filter(function (a) {
        return a.currency !== data.program.currency;
      })) : accounts;
      return el("section", {"aria-labelledby": id}, [
        el("h3", {id: id, text: t.account}),
        el("dl", {}, shown.reduce(function (items, account) {
          var suffix = shown.length > 1 ? " (" + account.currency + ")" : "";
          return items.concat([
            self._figure(t.balance + suffix, "balance-" + account.currency, account.balance,
                         self._money(account.balance, account.currency)),
            self._figure(t.available + suffix, "available-" + account.currency,
                         account.available, self._money(account.available, account.currency)),
          ]);
        }, [])),
      ]);
    }

    _flashChanges(previous, data) {
      var before = {};
      ((previous && previous.shown) || []).forEach(function (item) {
        before[item[0]] = item[1];
      });
      var shown = [];
      this.shadowRoot.querySelectorAll("dd[data-field]").forEach(function (node) {
        var key = node.getAttribute("data-field");
        var value = node.getAttribute("data-value");
        shown.push([key, value]);
        if (Object.prototype.hasOwnProperty.call(before, key) && before[key] !== value) {
          node.classList.add("flash");
        }
      });
      data.shown = shown;
    }
  }

  window.customElements.define("rebate-card", RebateCard);
}());

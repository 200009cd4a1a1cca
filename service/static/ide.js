// Starts GraphiQL on the page service/ide.py renders. An external script, not an inline
// one, so that the page's Content-Security-Policy can be `script-src 'self'` and nothing
// else. The page's settings come from its JSON block #graphiql-config (data, not code).
(function () {
  "use strict";
  var root = document.getElementById("graphiql");

  function fail(message) {
    var paragraph = document.createElement("p");
    paragraph.className = "ide-error";
    paragraph.setAttribute("role", "alert");
    paragraph.textContent = message;
    root.textContent = "";
    root.appendChild(paragraph);
  }

  var config;
  try {
    config = JSON.parse(document.getElementById("graphiql-config").textContent);
  } catch (error) {
    fail("GraphiQL cannot start: the page's settings are unreadable (" + error + ").");
    return;
  }

  // A script that failed to load left its global undefined: say which file it was.
  var missing = config.scripts.filter(function (script) {
    return !(script.global in window);
  });
  if (missing.length) {
    fail("GraphiQL cannot start: " + missing.map(function (script) {
      return script.url.split("?")[0];
    }).join(", ") + " did not load from this service. Check that the service is running " +
      "and that its log shows these files served (200); then reload the page. The API " +
      "itself answers at POST " + config.endpoint + " with a bearer token.");
    return;
  }

  // The token in the Headers pane (an object, or its JSON text), if it has a token's shape.
  function bearerToken(headers) {
    if (typeof headers === "string") {
      try {
        headers = JSON.parse(headers);
      } catch (error) {
        return null;
      }
    }
    if (!headers || typeof headers !== "object") {
      return null;
    }
    var name = Object.keys(headers).filter(function (key) {
      return key.toLowerCase() === "authorization";
    })[0];
    var match = name && /^Bearer +([A-Za-z0-9._~+\/-]+=*)$/i.exec(String(headers[name]).trim());
    return match ? match[1] : null;
  }

  // Every operation needs a token: without one, say where it goes instead of sending a
  // request the service can only refuse (GraphiQL asks for the schema as soon as it opens).
  var serviceFetcher = GraphiQL.createFetcher({ url: config.endpoint });
  function fetcher(params, options) {
    if (!bearerToken(options && options.headers)) {
      return Promise.resolve({ errors: [{ message: config.headersHint,
                                          extensions: { code: "UNAUTHENTICATED" } }] });
    }
    return serviceFetcher(params, options);
  }

  // Loads the schema (completion, Docs, Explorer) once a token is in the Headers pane.
  function SchemaOnceTokenGiven() {
    var editor = GraphiQL.React.useEditorContext({ nonNull: true });
    var schema = GraphiQL.React.useSchemaContext({ nonNull: true });
    var tried = React.useRef(null);
    var tab = editor.tabs[editor.activeTabIndex];
    var token = bearerToken(tab ? tab.headers : null);
    React.useEffect(function () {
      if (!token || schema.schema || schema.isFetching || token === tried.current) {
        return undefined;
      }
      // Later, not now: GraphiQL's schema context reads the new headers in its own effect.
      var timer = setTimeout(function () {
        tried.current = token;
        schema.introspect();
      }, 0);
      return function () { clearTimeout(timer); };
    }, [token, schema.schema, schema.isFetching, schema.introspect]);
    return null;
  }

  try {
    var explorer = GraphiQLPluginExplorer.explorerPlugin();
    var App = function () {
      return React.createElement(GraphiQL, {
        fetcher: fetcher,
        plugins: [explorer],
        defaultQuery: config.defaultQuery,
        defaultHeaders: config.defaultHeaders,
        defaultEditorToolsVisibility: "headers",
        isHeadersEditorEnabled: true,
        // A bearer token kept in localStorage would outlive the tab; paste it again.
        shouldPersistHeaders: false,
        inputValueDeprecation: true,
        toolbar: { additionalComponent: SchemaOnceTokenGiven },
      });
    };
    ReactDOM.createRoot(root).render(React.createElement(App));
  } catch (error) {
    fail("GraphiQL failed to start: " + error);
  }
})();

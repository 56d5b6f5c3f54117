import Dataplane
import Netfilter
import Verification

/// `kdp report`'s one self-contained HTML file: inline CSS, inline SVG and a few lines of
/// inline script, nothing fetched, so it opens from a file on a machine with no network.
/// Sections are appended in order; `html` closes the document.
struct HTMLReport {
    private var body = ""
    private var toc: [(id: String, title: String)] = []
    let title: String

    init(title: String) { self.title = title }

    /// Text for an element or attribute: the five characters HTML gives meaning to.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// An SVG from Graphviz, without its XML prologue and DOCTYPE (which HTML does not take
    /// inline).
    static func inlineSVG(_ svg: String) -> String {
        guard let start = svg.range(of: "<svg") else { return "" }
        return String(svg[start.lowerBound...])
    }

    mutating func section(id: String, title: String, _ content: String) {
        toc.append((id, title))
        body += "<section id=\"\(id)\">\n<h2>\(Self.escape(title))</h2>\n\(content)\n</section>\n"
    }

    /// A table with a header row; cells are escaped text.
    static func table(_ header: [String], _ rows: [[String]], cssClass: String = "") -> String {
        var out = "<table\(cssClass.isEmpty ? "" : " class=\"\(cssClass)\"")>\n<thead><tr>"
        out += header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for r in rows { out += "<tr>" + r.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n" }
        return out + "</tbody>\n</table>\n"
    }

    /// A path's steps as a table: node, where in netfilter, what happened, the packet after.
    static func stepsTable(_ p: DataplanePath) -> String {
        let rows = p.steps.enumerated().map { i, s -> [String] in
            var place = [s.hook?.rawValue, s.table, s.chain].compactMap { $0 }.joined(separator: " ")
            if let r = s.rule { place += " #\(r)" }
            return [String(i + 1), s.node ?? "", place.isEmpty ? s.kind.rawValue : place, s.action, s.packet.summary]
        }
        return table(["#", "node", "where", "what happened", "packet after"], rows, cssClass: "steps")
    }

    /// The document, with a table of contents and the script that marks it rendered.
    var html: String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        out += "<title>\(Self.escape(title))</title>\n<style>\n\(Self.css)</style>\n</head>\n<body>\n"
        out += "<header>\n<h1>\(Self.escape(title))</h1>\n<nav>" + toc.map { "<a href=\"#\($0.id)\">\(Self.escape($0.title))</a>" }.joined(separator: " · ")
        out += "</nav>\n</header>\n<main>\n\(body)</main>\n"
        out += "<footer>Written by kdp. Self-contained: no file or network fetches.</footer>\n"
        out += "<script>\n\(Self.script)</script>\n</body>\n</html>\n"
        return out
    }

    static let css = """
    body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0; color: #1d2733; background: #fafbfc; }
    header { background: #1f3b5c; color: #fff; padding: 16px 28px; }
    header h1 { margin: 0 0 6px 0; font-size: 22px; }
    header nav a { color: #cfe0f3; margin-right: 4px; }
    main { padding: 8px 28px 28px 28px; }
    section { background: #fff; border: 1px solid #dde3ea; border-radius: 8px; margin: 18px 0; padding: 6px 18px 18px 18px; }
    h2 { color: #1f3b5c; border-bottom: 1px solid #e4e9ef; padding-bottom: 4px; }
    h3 { margin-bottom: 6px; }
    figure { margin: 8px 0; overflow-x: auto; }
    figure svg { max-width: 100%; height: auto; }
    table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
    th, td { border: 1px solid #dde3ea; padding: 3px 8px; text-align: left; vertical-align: top; }
    th { background: #eef3f8; }
    table.steps td:nth-child(5) { font-family: "DejaVu Sans Mono", monospace; white-space: nowrap; }
    .trace-grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; align-items: start; }
    .trace-grid > div { overflow-x: auto; }
    .trace-grid > figure { position: sticky; top: 8px; }
    .ok { color: #1e7b34; font-weight: bold; }
    .bad { color: #b03a2e; font-weight: bold; }
    details { margin: 6px 0; }
    summary { cursor: pointer; }
    .chart text { font-size: 11px; }
    footer { color: #6b7785; font-size: 12px; padding: 0 28px 20px 28px; }

    """

    /// Marks the document as rendered (and counts any script error), so that a headless
    /// browser check can read the outcome from the DOM; opens every <details> on request.
    static let script = """
    (function () {
      var errors = 0;
      window.addEventListener("error", function () { errors += 1; document.body.setAttribute("data-kdp-errors", String(errors)); });
      var boxes = document.querySelectorAll("section figure svg").length;
      document.body.setAttribute("data-kdp-pictures", String(boxes));
      document.body.setAttribute("data-kdp-errors", String(errors));
      document.body.setAttribute("data-kdp-ready", "yes");
      document.querySelectorAll("[data-open-all]").forEach(function (b) {
        b.addEventListener("click", function () { document.querySelectorAll("details").forEach(function (d) { d.open = true; }); });
      });
    })();

    """
}

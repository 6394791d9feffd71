import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import SignetCore

/// Renders the browser sign-in pages from the built-in templates (resources of this module),
/// each replaceable by a file of the same name in `login.templates_dir`. Every page carries the
/// same protective headers: no framing, no inline script, no caching, no referrer.
struct PageRenderer: Sendable {
    let library: MustacheLibrary

    /// Headers of every page (and of the error pages and redirects of the browser flow).
    static let securityHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-store",
        .pragma: "no-cache",
        .xFrameOptions: "DENY",
        // No `form-action`: Chromium applies it to the redirect back to the application.
        .contentSecurityPolicy: "default-src 'self'; frame-ancestors 'none'",
        .referrerPolicy: "no-referrer",
    ]

    /// The built-in templates, then the overrides of `directory` (if any).
    init(overrides directory: String?) throws {
        guard let builtIn = Bundle.module.url(forResource: "pages", withExtension: nil) else {
            throw SignetError(.serverError, "the page templates were not installed beside this binary", kind: .unavailable)
        }
        var library = MustacheLibrary()
        for directory in [builtIn.path] + (directory.map { [$0] } ?? []) {
            let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".mustache") }
            for file in files.sorted() {
                let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
                try library.register(text, named: String(file.dropLast(".mustache".count)))
            }
        }
        for page in ["layout", "login", "consent", "second_factor", "enrolment", "recovery_codes", "logout", "signed_out", "error"] where library.getTemplate(named: page) == nil {
            throw SignetError(.serverError, "the page template \(page).mustache is missing", kind: .unavailable)
        }
        self.library = library
    }

    /// `page` as an HTML response with the page headers (plus `headers`).
    func response(_ page: Page, headers: HTTPFields = [:]) -> Response {
        let html = library.render(page.context, withTemplate: page.template) ?? "<!doctype html><title>Signet</title><p>Signet"
        var fields = Self.securityHeaders
        for field in headers { fields.append(field) }
        return Response(status: page.status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

extension HTTPField.Name {
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}

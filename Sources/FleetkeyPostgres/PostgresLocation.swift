import FleetkeyCore
import Foundation

/// Where a PostgreSQL registry lives: `postgres://USER@HOST:PORT/DATABASE`, without a password.
///
/// The URL is what `fleetkey.json` records, what errors print and what logs may show, so it never holds a
/// password: one given in the URL is refused, and the password is passed separately (from PGPASSWORD or
/// FLEETKEY_DATABASE_PASSWORD, read by the caller). The syntax follows libpq's connection URIs
/// (PostgreSQL documentation §34.1.1), with the parameters `sslmode` (`disable`, `prefer` — the default —,
/// `require`, `verify-full`), `sslrootcert` (a PEM file of trusted roots for `verify-full`) and
/// `connect_timeout` (seconds), and one of Fleetkey's own, `query_timeout` (seconds, default 30): how long one
/// registry operation may go unanswered before the connection is closed and the operation fails (a server that dies
/// mid-answer must not leave a command waiting forever).
package struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    /// How the connection is protected, with libpq's meaning of each `sslmode` (PostgreSQL documentation §34.19.1).
    ///
    /// Only `verify-full` authenticates the server; it is the mode for any database reached over a network
    /// (docs/scale-out.md). The others leave the registry to whoever can answer on the database's address.
    package enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, plain otherwise; the server's certificate is not checked.
        case prefer
        /// TLS or no connection; the server's certificate is not checked, so an impostor with any certificate is
        /// accepted: encryption without authentication.
        case require
        /// TLS, with the server's certificate chain verified against `sslrootcert` (or the system's roots) and its
        /// name against the URL's host (RFC 6125).
        case verifyFull = "verify-full"
    }

    package var host: String
    package var port: Int
    package var user: String
    package var database: String
    package var tls: TLSMode
    /// Trusted roots (PEM) for `verify-full`; the system's roots when `nil`.
    package var rootCertificatePath: String?
    /// How long to wait for a connection, to the server or from the pool, before giving up with a clear error.
    package var connectTimeout: Duration
    /// How long one operation on a leased connection may take before it is abandoned and its connection closed.
    package var queryTimeout: Duration

    package init(
        host: String, port: Int = 5432, user: String, database: String, tls: TLSMode = .prefer,
        rootCertificatePath: String? = nil, connectTimeout: Duration = .seconds(10),
        queryTimeout: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.database = database
        self.tls = tls
        self.rootCertificatePath = rootCertificatePath
        self.connectTimeout = connectTimeout
        self.queryTimeout = queryTimeout
    }

    /// Parses a `postgres://` or `postgresql://` URL; the error names the part that is wrong.
    package init(url text: String) throws(FleetkeyError) {
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://"),
            let components = URLComponents(string: text)
        else {
            throw FleetkeyError(
                .invalidArgument,
                "--database must be a PostgreSQL URL such as postgres://fleetkey@db.example.net:5432/fleetkey")
        }
        // Checked before anything is echoed back, so an error never repeats the password.
        guard components.password == nil else {
            throw FleetkeyError(
                .invalidArgument,
                "the database URL must not contain a password (it would be written to fleetkey.json): remove it, "
                    + "and give the password in FLEETKEY_DATABASE_PASSWORD or PGPASSWORD instead")
        }
        guard let user = components.user, !user.isEmpty else {
            throw FleetkeyError(
                .invalidArgument, "the database URL names no user: write it as postgres://USER@HOST:PORT/DATABASE")
        }
        guard let host = components.host, !host.isEmpty else {
            throw FleetkeyError(
                .invalidArgument, "the database URL names no host: write it as postgres://USER@HOST:PORT/DATABASE")
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.contains("/") else {
            throw FleetkeyError(.invalidArgument, "the database URL's path must be one database name, not '\(path)'")
        }
        var location = PostgresLocation(
            host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: components.port ?? 5432,
            user: user, database: path.isEmpty ? user : path)
        guard (1...65535).contains(location.port) else {
            throw FleetkeyError(.invalidArgument, "the database URL's port \(location.port) is not in 1...65535")
        }
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw FleetkeyError(
                        .invalidArgument,
                        "sslmode '\(value)' is not supported; use one of "
                            + TLSMode.allCases.map(\.rawValue).joined(separator: ", "))
                }
                location.tls = mode
            case "sslrootcert":
                location.rootCertificatePath = value
            case "connect_timeout":
                guard let seconds = Int(value), (1...3600).contains(seconds) else {
                    throw FleetkeyError(
                        .invalidArgument, "connect_timeout '\(value)' must be whole seconds in 1...3600")
                }
                location.connectTimeout = .seconds(seconds)
            case "query_timeout":
                guard let seconds = Int(value), (1...3600).contains(seconds) else {
                    throw FleetkeyError(
                        .invalidArgument, "query_timeout '\(value)' must be whole seconds in 1...3600")
                }
                location.queryTimeout = .seconds(seconds)
            default:
                throw FleetkeyError(
                    .invalidArgument,
                    "the database URL parameter '\(item.name)' is not supported; use sslmode, sslrootcert, "
                        + "connect_timeout or query_timeout")
            }
        }
        if location.rootCertificatePath != nil && location.tls != .verifyFull {
            throw FleetkeyError(.invalidArgument, "sslrootcert is only used with sslmode=verify-full")
        }
        self = location
    }

    /// The canonical URL, without a password: safe for configuration files, logs and error messages.
    package var url: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = user
        components.host = host.contains(":") ? "[\(host)]" : host
        components.port = port
        components.path = "/" + database
        var items: [URLQueryItem] = []
        if tls != .prefer { items.append(URLQueryItem(name: "sslmode", value: tls.rawValue)) }
        if let rootCertificatePath { items.append(URLQueryItem(name: "sslrootcert", value: rootCertificatePath)) }
        if connectTimeout != .seconds(10) {
            items.append(URLQueryItem(name: "connect_timeout", value: "\(connectTimeout.components.seconds)"))
        }
        if queryTimeout != .seconds(30) {
            items.append(URLQueryItem(name: "query_timeout", value: "\(queryTimeout.components.seconds)"))
        }
        if !items.isEmpty { components.queryItems = items }
        return components.string ?? "postgres://\(user)@\(host):\(port)/\(database)"
    }

    package var description: String { url }

    /// Whether `text` is meant as a PostgreSQL URL (rather than, say, an SQLite file name).
    package static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }
}

import Foundation
import PostgresNIO

/// What went wrong with PostgreSQL, in words an operator can act on, and never with a secret in them.
///
/// postgres-nio hides everything behind a generic `PSQLError.description` so that nothing leaks by accident
/// (its `PSQLError.swift`); this picks out what is safe to show: the SQLSTATE, the server's message and hint,
/// the constraint name, or the transport failure (refused, reset, timed out). Bound values and the password
/// are never part of it.
enum PostgresFailure {
    /// The five-character SQLSTATE of a server error (PostgreSQL documentation, Appendix A), if it is one.
    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// The constraint a server error names (for unique violations: which uniqueness was at stake).
    static func constraint(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.constraintName]
    }

    static func isUniqueViolation(_ error: any Error, constraint name: String) -> Bool {
        sqlState(error) == "23505" && constraint(error) == name
    }

    /// Whether the failure is about reaching the server at all, rather than about the statement: the connection was
    /// refused, reset or closed, the server is shutting down or in recovery, or no connection could be had.
    static func isUnavailability(_ error: any Error) -> Bool {
        if let state = sqlState(error) {
            // Class 08: connection exception; 57P01-57P05: admin/crash shutdown, cannot connect now, idle timeout.
            return state.hasPrefix("08") || state.hasPrefix("57P")
        }
        if let error = error as? PSQLError {
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
                .queryCancelled, .messageDecodingFailure, .unexpectedBackendMessage:
                return true
            default:
                return false
            }
        }
        return error is ChannelError || error is IOError || error is NIOConnectionError
    }

    /// A one-line description without secrets.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                var text = info[.sqlState].map { "\($0) " } ?? ""
                text += info[.message] ?? "server error"
                if let hint = info[.hint] { text += " (\(hint))" }
                return text
            }
            let transport = error.underlying.map { describe($0) }
            switch error.code {
            case .connectionError:
                return "connection failed" + (transport.map { ": \($0)" } ?? "")
            case .serverClosedConnection, .uncleanShutdown:
                return "the server closed the connection" + (transport.map { " (\($0))" } ?? "")
            case .clientClosedConnection, .poolClosed:
                return "the connection was closed on this side"
            case .queryCancelled:
                return "the statement was cancelled"
            case .sslUnsupported:
                return "the server does not offer TLS, and sslmode requires it"
            case .failedToAddSSLHandler:
                return "cannot set up TLS" + (transport.map { ": \($0)" } ?? "")
            case .authMechanismRequiresPassword:
                return "the server asks for a password: set FLEETKEY_DATABASE_PASSWORD or PGPASSWORD"
            case .unsupportedAuthMechanism:
                return "the server asks for an authentication method this client does not support"
            case .saslError:
                return "SCRAM authentication failed"
            default:
                return "\(error.code)" + (transport.map { ": \($0)" } ?? "")
            }
        }
        if let error = error as? NIOConnectionError {
            return error.connectionErrors.first.map { describe($0.error) } ?? "cannot connect"
        }
        if let error = error as? IOError {
            return String(cString: strerror(error.errnoCode)).lowercased()
        }
        if let error = error as? PostgresDecodingError {
            return "cannot decode column \(error.columnName) as \(error.targetType)"
        }
        return "\(error)"
    }
}

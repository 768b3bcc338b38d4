import FleetkeyCore
import FleetkeyRegistrySQL
import Foundation
import GRDB

/// The registry's values as SQLite stores them: times as seconds since 1970 (REAL), bytes as BLOBs.
enum SQLiteValues {
    static func arguments(_ values: [SQLValue]) -> StatementArguments {
        StatementArguments(values.map(databaseValue))
    }

    static func databaseValue(_ value: SQLValue) -> DatabaseValue {
        switch value {
        case .text(let text): text?.databaseValue ?? .null
        case .integer(let integer): integer?.databaseValue ?? .null
        case .blob(let bytes): bytes.map { Data($0).databaseValue } ?? .null
        case .date(let date): date.map { $0.timeIntervalSince1970.databaseValue } ?? .null
        case .json(let text): text.databaseValue
        }
    }
}

/// A GRDB row read strictly: a column that is missing, or holds another type than asked, is an error.
struct SQLiteRow: RegistryRow {
    let row: Row

    private func value(_ column: String) throws -> DatabaseValue {
        guard row.hasColumn(column) else {
            throw FleetkeyError(.storage, "the registry's answer has no column \(column)")
        }
        return row[column]
    }

    private func mismatch(_ column: String, _ value: DatabaseValue, _ expected: String) -> FleetkeyError {
        let found =
            switch value.storage {
            case .null: "NULL"
            case .int64: "an integer"
            case .double: "a real number"
            case .string: "text"
            case .blob: "bytes"
            }
        return FleetkeyError(.storage, "column \(column) holds \(found) where \(expected) belongs")
    }

    func text(_ column: String) throws -> String? {
        let value = try value(column)
        switch value.storage {
        case .null: return nil
        case .string(let text): return text
        default: throw mismatch(column, value, "text")
        }
    }

    func integer(_ column: String) throws -> Int64? {
        let value = try value(column)
        switch value.storage {
        case .null: return nil
        case .int64(let integer): return integer
        default: throw mismatch(column, value, "an integer")
        }
    }

    func blob(_ column: String) throws -> [UInt8]? {
        let value = try value(column)
        switch value.storage {
        case .null: return nil
        case .blob(let data): return Array(data)
        default: throw mismatch(column, value, "bytes")
        }
    }

    func date(_ column: String) throws -> Date? {
        let value = try value(column)
        switch value.storage {
        case .null: return nil
        case .double(let seconds): return Date(timeIntervalSince1970: seconds)
        case .int64(let seconds): return Date(timeIntervalSince1970: Double(seconds))
        default: throw mismatch(column, value, "a time")
        }
    }
}

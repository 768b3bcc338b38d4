import CPKCS11
import FleetkeyCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A PKCS#11 module (a "Cryptoki library", v2.40 base specification §5.4) loaded with dlopen.
///
/// Fleetkey loads a module by path, as RFC 7512's `module-path` names it, once ``PKCS11ModuleAllowList`` has admitted
/// it (callers go through ``PKCS11KeyCustody``), and initialises it once per process with `CKF_OS_LOCKING_OK` so the
/// module may be called from several threads. A module is never unloaded: the tokens and key handles Fleetkey gives
/// out refer to it for the life of the process.
final class PKCS11Module: @unchecked Sendable {
    // @unchecked: `functions` points at the module's immutable function table; every mutable field is behind `lock`.
    let path: String
    let functions: UnsafeMutablePointer<CK_FUNCTION_LIST>
    private let lock = NSLock()
    private var tokens: [CK_SLOT_ID: PKCS11Token] = [:]

    private static let loadLock = NSLock()
    nonisolated(unsafe) private static var loaded: [String: PKCS11Module] = [:]

    private init(path: String, functions: UnsafeMutablePointer<CK_FUNCTION_LIST>) {
        self.path = path
        self.functions = functions
    }

    /// The module at `path`, loaded and initialised on first use.
    static func load(_ path: String) throws -> PKCS11Module {
        guard path.hasPrefix("/") else {
            throw FleetkeyError(
                .invalidArgument,
                "PKCS#11 module-path '\(path)' must be an absolute path (for SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)"
            )
        }
        let canonical = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        return try loadLock.withLock {
            if let module = loaded[canonical] { return module }
            guard FileManager.default.fileExists(atPath: canonical) else {
                throw FleetkeyError(
                    .custodyUnavailable,
                    "PKCS#11 module '\(path)' does not exist: check the URI's module-path (for SoftHSM2 install the "
                        + "softhsm2 package, module /usr/lib/softhsm/libsofthsm2.so); nothing was signed")
            }
            guard let handle = dlopen(canonical, RTLD_NOW | RTLD_LOCAL) else {
                let reason = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
                throw FleetkeyError(
                    .custodyUnavailable, "cannot load PKCS#11 module '\(path)': \(reason); nothing was signed")
            }
            guard let symbol = dlsym(handle, "C_GetFunctionList") else {
                dlclose(handle)
                throw FleetkeyError(
                    .custodyUnavailable,
                    "'\(path)' is not a PKCS#11 module: it has no C_GetFunctionList; check the URI's module-path")
            }
            let getFunctionList = unsafeBitCast(symbol, to: CK_C_GetFunctionList.self)
            var list: UnsafeMutablePointer<CK_FUNCTION_LIST>?
            let rv = getFunctionList(&list)
            guard rv == CKR_OK, let list else {
                throw FleetkeyError(
                    .custodyUnavailable,
                    "PKCS#11 module '\(path)': C_GetFunctionList returned \(PKCS11ReturnValue.name(rv))")
            }
            let module = PKCS11Module(path: canonical, functions: list)
            try module.initialize()
            loaded[canonical] = module
            return module
        }
    }

    private func initialize() throws {
        var arguments = CK_C_INITIALIZE_ARGS(
            CreateMutex: nil, DestroyMutex: nil, LockMutex: nil, UnlockMutex: nil, flags: CKF_OS_LOCKING_OK,
            pReserved: nil)
        guard let initialize = functions.pointee.C_Initialize else {
            throw FleetkeyError(.custodyUnavailable, "PKCS#11 module '\(path)' has no C_Initialize")
        }
        let rv = initialize(&arguments)
        guard rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED else {
            throw FleetkeyError(
                .custodyUnavailable,
                "PKCS#11 module '\(path)' failed to initialise (C_Initialize returned \(PKCS11ReturnValue.name(rv))); "
                    + "for SoftHSM2 check SOFTHSM2_CONF and its token directory")
        }
    }

    /// One entry of the module's function table; a module that leaves it empty does not support the call.
    func function<F>(_ entry: KeyPath<CK_FUNCTION_LIST, F?>, _ name: String) throws -> F {
        guard let function = functions.pointee[keyPath: entry] else {
            throw PKCS11CallError(function: name, returnValue: CKR_FUNCTION_NOT_SUPPORTED)
        }
        return function
    }

    static func check(_ name: String, _ rv: CK_RV) throws {
        guard rv == CKR_OK else { throw PKCS11CallError(function: name, returnValue: rv) }
    }

    // MARK: Slots and tokens

    /// Slots with a token present (C_GetSlotList with tokenPresent = TRUE).
    func slotsWithTokens() throws -> [CK_SLOT_ID] {
        let getSlotList = try function(\.C_GetSlotList, "C_GetSlotList")
        var count: CK_ULONG = 0
        try Self.check("C_GetSlotList", getSlotList(1, nil, &count))
        var slots = [CK_SLOT_ID](repeating: 0, count: Int(count))
        try Self.check("C_GetSlotList", getSlotList(1, &slots, &count))
        return Array(slots.prefix(Int(count)))
    }

    func tokenInfo(_ slot: CK_SLOT_ID) throws -> PKCS11TokenInfo {
        var info = CK_TOKEN_INFO()
        try Self.check("C_GetTokenInfo", try function(\.C_GetTokenInfo, "C_GetTokenInfo")(slot, &info))
        return PKCS11TokenInfo(info)
    }

    func slotInfo(_ slot: CK_SLOT_ID) throws -> (description: String, manufacturer: String) {
        var info = CK_SLOT_INFO()
        try Self.check("C_GetSlotInfo", try function(\.C_GetSlotInfo, "C_GetSlotInfo")(slot, &info))
        return (PKCS11TokenInfo.text(info.slotDescription), PKCS11TokenInfo.text(info.manufacturerID))
    }

    func libraryInfo() throws -> (manufacturer: String, description: String, version: String) {
        var info = CK_INFO()
        try Self.check("C_GetInfo", try function(\.C_GetInfo, "C_GetInfo")(&info))
        return (
            PKCS11TokenInfo.text(info.manufacturerID), PKCS11TokenInfo.text(info.libraryDescription),
            "\(info.libraryVersion.major).\(info.libraryVersion.minor)"
        )
    }

    /// The one token the URI's token and slot attributes select (RFC 7512 §2.3: an absent attribute matches all).
    func token(matching uri: PKCS11URI) throws -> PKCS11Token {
        do {
            return try findToken(uri)
        } catch let error as PKCS11CallError {
            throw FleetkeyError(
                .custodyUnavailable,
                "PKCS#11 module '\(path)' cannot list its tokens: \(error); nothing was signed")
        }
    }

    private func findToken(_ uri: PKCS11URI) throws -> PKCS11Token {
        if uri.libraryManufacturer != nil || uri.libraryDescription != nil || uri.libraryVersion != nil {
            let library = try libraryInfo()
            guard uri.libraryManufacturer.map({ $0 == library.manufacturer }) ?? true,
                uri.libraryDescription.map({ $0 == library.description }) ?? true,
                uri.libraryVersion.map({ $0 == library.version || $0 + ".0" == library.version }) ?? true
            else {
                throw FleetkeyError(
                    .custodyUnavailable,
                    "PKCS#11 module '\(path)' is '\(library.description)' by '\(library.manufacturer)', version "
                        + "\(library.version), which the URI's library attributes do not match")
            }
        }
        var matches: [(CK_SLOT_ID, PKCS11TokenInfo)] = []
        var seen: [String] = []
        for slot in try slotsWithTokens() {
            if let wanted = uri.slotID, wanted != slot { continue }
            // A token deleted or removed while the process runs fails C_GetTokenInfo; it is simply not there.
            guard let info = try? tokenInfo(slot) else { continue }
            guard info.flags & CKF_TOKEN_INITIALIZED != 0 else { continue }
            seen.append(info.label)
            guard uri.token.map({ $0 == info.label }) ?? true,
                uri.manufacturer.map({ $0 == info.manufacturer }) ?? true,
                uri.model.map({ $0 == info.model }) ?? true, uri.serial.map({ $0 == info.serial }) ?? true
            else { continue }
            if uri.slotDescription != nil || uri.slotManufacturer != nil {
                guard let slotInfo = try? slotInfo(slot),
                    uri.slotDescription.map({ $0 == slotInfo.description }) ?? true,
                    uri.slotManufacturer.map({ $0 == slotInfo.manufacturer }) ?? true
                else { continue }
            }
            matches.append((slot, info))
        }
        guard let (slot, info) = matches.first else {
            throw FleetkeyError(
                .custodyUnavailable,
                "no PKCS#11 token matches \(uri.tokenDescription) in module '\(path)' "
                    + (seen.isEmpty
                        ? "(the module has no initialised token)"
                        : "(tokens present: \(seen.map { "'\($0)'" }.joined(separator: ", ")))")
                    + "; check the URI's token= attribute, or that the token is inserted; nothing was signed")
        }
        guard matches.count == 1 else {
            throw FleetkeyError(
                .invalidArgument,
                "\(matches.count) PKCS#11 tokens match \(uri.tokenDescription) in module '\(path)'; add serial= to the "
                    + "URI to choose one (serials: \(matches.map(\.1.serial).joined(separator: ", ")))")
        }
        return lock.withLock {
            if let existing = tokens[slot], existing.info.serial == info.serial, existing.info.label == info.label {
                return existing
            }
            let token = PKCS11Token(module: self, slotID: slot, info: info)
            tokens[slot] = token
            return token
        }
    }
}

/// What C_GetTokenInfo says about a token, with the blank padding of its fixed-width fields removed.
struct PKCS11TokenInfo: Sendable, Hashable, Codable {
    var label: String
    var manufacturer: String
    var model: String
    var serial: String
    var flags: CK_FLAGS

    init(_ info: CK_TOKEN_INFO) {
        label = Self.text(info.label)
        manufacturer = Self.text(info.manufacturerID)
        model = Self.text(info.model)
        serial = Self.text(info.serialNumber)
        flags = info.flags
    }

    init(label: String, manufacturer: String, model: String, serial: String, flags: CK_FLAGS) {
        self.label = label
        self.manufacturer = manufacturer
        self.model = model
        self.serial = serial
        self.flags = flags
    }

    /// A blank-padded, not NUL-terminated CK_UTF8CHAR field (v2.40 §3.2) as a string.
    static func text<Field>(_ field: Field) -> String {
        withUnsafeBytes(of: field) { raw in
            var bytes = Array(raw)
            while let last = bytes.last, last == 0x20 || last == 0 { bytes.removeLast() }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

import CPKCS11

/// An open PKCS#11 session (v2.40 §5.6), used only while its ``PKCS11Token`` holds its lock.
///
/// The methods are thin: each wraps one C call or the two-call pattern the API asks for (ask the length, then the
/// value) and throws ``PKCS11CallError`` on anything but CKR_OK.
struct PKCS11Session {
    let module: PKCS11Module
    let handle: CK_SESSION_HANDLE

    func state() throws -> CK_STATE {
        var info = CK_SESSION_INFO()
        try PKCS11Module.check(
            "C_GetSessionInfo", try module.function(\.C_GetSessionInfo, "C_GetSessionInfo")(handle, &info))
        return info.state
    }

    func login(_ pin: PKCS11PIN) throws {
        let login = try module.function(\.C_Login, "C_Login")
        var bytes = pin.bytes
        defer { bytes.withUnsafeMutableBufferPointer { $0.initialize(repeating: 0) } }
        let rv = bytes.withUnsafeMutableBufferPointer { buffer in
            login(handle, CKU_USER, buffer.baseAddress, CK_ULONG(buffer.count))
        }
        try PKCS11Module.check("C_Login", rv)
    }

    func logout() throws {
        try PKCS11Module.check("C_Logout", try module.function(\.C_Logout, "C_Logout")(handle))
    }

    /// Every object matching the template (C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal).
    func findObjects(_ template: [PKCS11Attribute]) throws -> [CK_OBJECT_HANDLE] {
        let initialize = try module.function(\.C_FindObjectsInit, "C_FindObjectsInit")
        let find = try module.function(\.C_FindObjects, "C_FindObjects")
        let finish = try module.function(\.C_FindObjectsFinal, "C_FindObjectsFinal")
        try withTemplate(template) { attributes, count in
            try PKCS11Module.check("C_FindObjectsInit", initialize(handle, attributes, count))
        }
        defer { _ = finish(handle) }
        var found: [CK_OBJECT_HANDLE] = []
        var batch = [CK_OBJECT_HANDLE](repeating: 0, count: 64)
        while true {
            var count: CK_ULONG = 0
            try PKCS11Module.check("C_FindObjects", find(handle, &batch, CK_ULONG(batch.count), &count))
            found.append(contentsOf: batch.prefix(Int(count)))
            if count < CK_ULONG(batch.count) { break }
        }
        return found
    }

    /// One attribute of an object. Asking for its length first means a sensitive value is never copied out:
    /// the token answers CKR_ATTRIBUTE_SENSITIVE before any byte moves.
    func attribute(_ type: CK_ATTRIBUTE_TYPE, of object: CK_OBJECT_HANDLE) throws -> PKCS11AttributeValue {
        let getAttribute = try module.function(\.C_GetAttributeValue, "C_GetAttributeValue")
        var probe = CK_ATTRIBUTE(type: type, pValue: nil, ulValueLen: 0)
        let rv = getAttribute(handle, object, &probe, 1)
        switch rv {
        case CKR_OK: break
        case CKR_ATTRIBUTE_SENSITIVE: return .sensitive
        case CKR_ATTRIBUTE_TYPE_INVALID: return .absent
        default: throw PKCS11CallError(function: "C_GetAttributeValue", returnValue: rv)
        }
        guard probe.ulValueLen != unavailableInformation else { return .absent }
        var value = [UInt8](repeating: 0, count: Int(probe.ulValueLen))
        try value.withUnsafeMutableBytes { buffer in
            var read = CK_ATTRIBUTE(type: type, pValue: buffer.baseAddress, ulValueLen: CK_ULONG(buffer.count))
            try PKCS11Module.check("C_GetAttributeValue", getAttribute(handle, object, &read, 1))
        }
        return .value(value)
    }

    /// Whether the token would reveal the attribute's value; only its length is asked for, so nothing is copied.
    func isReadable(_ type: CK_ATTRIBUTE_TYPE, of object: CK_OBJECT_HANDLE) throws -> Bool {
        let getAttribute = try module.function(\.C_GetAttributeValue, "C_GetAttributeValue")
        var probe = CK_ATTRIBUTE(type: type, pValue: nil, ulValueLen: 0)
        let rv = getAttribute(handle, object, &probe, 1)
        switch rv {
        case CKR_OK: return probe.ulValueLen != unavailableInformation
        case CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID: return false
        default: throw PKCS11CallError(function: "C_GetAttributeValue", returnValue: rv)
        }
    }

    func generateKeyPair(
        mechanism type: CK_MECHANISM_TYPE, publicTemplate: [PKCS11Attribute], privateTemplate: [PKCS11Attribute]
    ) throws -> (publicKey: CK_OBJECT_HANDLE, privateKey: CK_OBJECT_HANDLE) {
        let generate = try module.function(\.C_GenerateKeyPair, "C_GenerateKeyPair")
        var mechanism = CK_MECHANISM(mechanism: type, pParameter: nil, ulParameterLen: 0)
        var publicKey: CK_OBJECT_HANDLE = 0
        var privateKey: CK_OBJECT_HANDLE = 0
        try withTemplate(publicTemplate) { publicAttributes, publicCount in
            try withTemplate(privateTemplate) { privateAttributes, privateCount in
                try PKCS11Module.check(
                    "C_GenerateKeyPair",
                    generate(
                        handle, &mechanism, publicAttributes, publicCount, privateAttributes, privateCount, &publicKey,
                        &privateKey))
            }
        }
        return (publicKey, privateKey)
    }

    /// A single-part signature (C_SignInit, then C_Sign asked for the length and then the value).
    func sign(mechanism type: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE, data: [UInt8]) throws -> [UInt8] {
        let signInit = try module.function(\.C_SignInit, "C_SignInit")
        let sign = try module.function(\.C_Sign, "C_Sign")
        var mechanism = CK_MECHANISM(mechanism: type, pParameter: nil, ulParameterLen: 0)
        try PKCS11Module.check("C_SignInit", signInit(handle, &mechanism, key))
        var input = data
        var length: CK_ULONG = 0
        try input.withUnsafeMutableBufferPointer { buffer in
            try PKCS11Module.check("C_Sign", sign(handle, buffer.baseAddress, CK_ULONG(buffer.count), nil, &length))
        }
        var signature = [UInt8](repeating: 0, count: Int(length))
        try input.withUnsafeMutableBufferPointer { buffer in
            try signature.withUnsafeMutableBufferPointer { output in
                try PKCS11Module.check(
                    "C_Sign", sign(handle, buffer.baseAddress, CK_ULONG(buffer.count), output.baseAddress, &length))
            }
        }
        return Array(signature.prefix(Int(length)))
    }

    func createObject(_ template: [PKCS11Attribute]) throws -> CK_OBJECT_HANDLE {
        let create = try module.function(\.C_CreateObject, "C_CreateObject")
        var object: CK_OBJECT_HANDLE = 0
        try withTemplate(template) { attributes, count in
            try PKCS11Module.check("C_CreateObject", create(handle, attributes, count, &object))
        }
        return object
    }

    func destroyObject(_ object: CK_OBJECT_HANDLE) throws {
        try PKCS11Module.check(
            "C_DestroyObject", try module.function(\.C_DestroyObject, "C_DestroyObject")(handle, object))
    }

    func close() {
        if let close = try? module.function(\.C_CloseSession, "C_CloseSession") { _ = close(handle) }
    }
}

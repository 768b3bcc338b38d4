import Crypto
import Foundation

/// An owner's access-control policy: which actions on which resources its devices may take, by group and attribute.
///
/// The document (docs/authz.md) is JSON, checked whole before it is loaded:
/// ```json
/// { "version": 1,
///   "rules": [ { "id": "sensors-publish", "effect": "allow", "actions": ["publish"],
///                "resources": ["telemetry/berlin/*"], "groups": ["sensors"], "attributes": { "site": "berlin" } } ] }
/// ```
/// A rule applies to a request when one of its `actions` and one of its `resources` match (`*` matches any run of
/// characters, `/` included), the device is in one of its `groups` (every device when none are named), and the
/// device has each of its `attributes` with that value. Deny overrides allow: a request is allowed only when an
/// allow rule applies and no deny rule does, so nothing is allowed by default.
public struct AccessPolicy: Sendable, Hashable {
    public enum Effect: String, Sendable, Hashable {
        case allow
        case deny
    }

    public struct Rule: Sendable, Hashable {
        public var id: String
        public var effect: Effect
        public var actions: [String]
        public var resources: [String]
        public var groups: [String]
        public var attributes: [String: String]
    }

    public var rules: [Rule]
    /// SHA-256 of the document as loaded, lower-case hex: which policy decided, in events and answers.
    public var digest: String
    /// The document's bytes as loaded, kept so the registry can hand back exactly what was checked.
    public var document: [UInt8]

    private var compiled: [CompiledRule]
    /// Rules whose actions hold no wildcard, by action; the others are tried for every request.
    private var byAction: [String: [Int]]
    private var wildcardActions: [Int]

    /// The most rules a policy may hold; decisions stay fast and a mistaken generator is caught.
    public static let maximumRules = 100_000

    /// Reads and checks a policy document. Every problem names the rule (by position and id) and the field.
    /// `knownGroups`, when given, are the groups the registry has: a rule naming another is refused, since it could
    /// never apply.
    public init(document bytes: [UInt8], knownGroups: Set<String>?) throws(FleetkeyError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes))
        } catch {
            throw Self.invalid("the policy is not JSON (\(error.localizedDescription))")
        }
        guard let top = object as? [String: Any] else { throw Self.invalid("the policy must be a JSON object") }
        try Self.onlyKeys(top, ["version", "rules"], where: "the policy")
        guard let version = top["version"] as? Int, version == 1 else {
            throw Self.invalid("\"version\" must be 1 (the only version this Fleetkey reads)")
        }
        guard let ruleObjects = top["rules"] as? [Any] else {
            throw Self.invalid("\"rules\" must be an array of rules")
        }
        guard ruleObjects.count <= Self.maximumRules else {
            throw Self.invalid("the policy has \(ruleObjects.count) rules; at most \(Self.maximumRules) are allowed")
        }
        var rules: [Rule] = []
        var ids: Set<String> = []
        for (index, element) in ruleObjects.enumerated() {
            let rule = try Self.rule(element, index: index, knownGroups: knownGroups)
            guard ids.insert(rule.id).inserted else {
                throw Self.invalid("rule \(index + 1): id '\(rule.id)' is used by an earlier rule; ids must be unique")
            }
            rules.append(rule)
        }
        self.init(rules: rules, document: bytes)
    }

    private init(rules: [Rule], document: [UInt8]) {
        self.rules = rules
        self.document = document
        digest = Hex.lower(SHA256.hash(data: document))
        compiled = rules.map(CompiledRule.init)
        var byAction: [String: [Int]] = [:]
        var wildcard: [Int] = []
        for (index, rule) in rules.enumerated() {
            if rule.actions.contains(where: { $0.contains("*") }) {
                wildcard.append(index)
            } else {
                for action in Set(rule.actions) { byAction[action, default: []].append(index) }
            }
        }
        self.byAction = byAction
        wildcardActions = wildcard
    }

    /// The rule that decides a request, deny first: the first deny rule that applies, else the first allow rule
    /// that applies, else `nil` (denied, as nothing allows it).
    public func decidingRule(action: String, resource: String, groups: Set<String>, attributes: [String: Set<String>])
        -> Rule?
    {
        let candidates = (byAction[action] ?? []) + wildcardActions
        var allow: Int?
        var deny: Int?
        for index in candidates where compiled[index].applies(action, resource, groups, attributes) {
            switch rules[index].effect {
            case .deny: deny = min(deny ?? index, index)
            case .allow: allow = min(allow ?? index, index)
            }
        }
        return (deny ?? allow).map { rules[$0] }
    }

    public static func == (lhs: AccessPolicy, rhs: AccessPolicy) -> Bool { lhs.document == rhs.document }
    public func hash(into hasher: inout Hasher) { hasher.combine(digest) }

    // MARK: Checking the document

    private static func rule(_ element: Any, index: Int, knownGroups: Set<String>?) throws(FleetkeyError) -> Rule {
        let at = "rule \(index + 1)"
        guard let object = element as? [String: Any] else { throw invalid("\(at) must be a JSON object") }
        try onlyKeys(object, ["id", "effect", "actions", "resources", "groups", "attributes"], where: at)
        guard let id = object["id"] as? String, (1...128).contains(id.utf8.count),
            id.utf8.allSatisfy({ (0x21..<0x7F).contains($0) })
        else { throw invalid("\(at): \"id\" must be 1-128 printable ASCII characters without spaces") }
        let named = "\(at) ('\(id)')"
        guard let effectText = object["effect"] as? String, let effect = Effect(rawValue: effectText) else {
            throw invalid("\(named): \"effect\" must be \"allow\" or \"deny\"")
        }
        let actions = try patterns(object["actions"], field: "actions", named)
        let resources = try patterns(object["resources"], field: "resources", named)
        var groups: [String] = []
        if let value = object["groups"] {
            guard let list = value as? [String] else { throw invalid("\(named): \"groups\" must be an array of names") }
            for group in list {
                do { try DeviceGroup.checkName(group) } catch { throw invalid("\(named): \"groups\": \(error.reason)") }
                if let knownGroups, !knownGroups.contains(group) {
                    throw invalid(
                        "\(named): group '\(group)' does not exist in this registry, so the rule could never apply; "
                            + "create it first (`fleetkey group create \(group)`)")
                }
            }
            groups = list
        }
        var attributes: [String: String] = [:]
        if let value = object["attributes"] {
            guard let map = value as? [String: String] else {
                throw invalid("\(named): \"attributes\" must be an object of string values")
            }
            for (key, value) in map {
                do { _ = try DeviceGroup.attribute(parsing: "\(key)=\(value)") } catch {
                    throw invalid("\(named): \"attributes\": \(error.reason)")
                }
            }
            attributes = map
        }
        return Rule(
            id: id, effect: effect, actions: actions, resources: resources, groups: groups, attributes: attributes)
    }

    private static func patterns(_ value: Any?, field: String, _ named: String) throws(FleetkeyError) -> [String] {
        guard let list = value as? [String], !list.isEmpty else {
            throw invalid("\(named): \"\(field)\" must be a non-empty array of names (`*` matches any characters)")
        }
        for pattern in list {
            guard (1...512).contains(pattern.utf8.count), pattern.utf8.allSatisfy({ (0x21..<0x7F).contains($0) })
            else {
                throw invalid(
                    "\(named): \"\(field)\" entry \(NameRule.quoted(pattern)) must be 1-512 printable ASCII "
                        + "characters without spaces")
            }
        }
        return list
    }

    private static func onlyKeys(_ object: [String: Any], _ allowed: Set<String>, where place: String)
        throws(FleetkeyError)
    {
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw invalid(
                "\(place) has an unknown field \"\(unknown.prefix(64))\"; the fields are "
                    + allowed.sorted().joined(separator: ", "))
        }
    }

    private static func invalid(_ reason: String) -> FleetkeyError {
        FleetkeyError(.invalidArgument, "access policy refused, nothing was loaded: \(reason)")
    }
}

/// A rule with its patterns ready to match.
private struct CompiledRule: Sendable {
    let actions: [GlobPattern]
    let resources: [GlobPattern]
    let groups: Set<String>
    let attributes: [(String, String)]

    init(_ rule: AccessPolicy.Rule) {
        actions = rule.actions.map(GlobPattern.init)
        resources = rule.resources.map(GlobPattern.init)
        groups = Set(rule.groups)
        attributes = rule.attributes.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    func applies(_ action: String, _ resource: String, _ memberOf: Set<String>, _ has: [String: Set<String>]) -> Bool {
        guard groups.isEmpty || !groups.isDisjoint(with: memberOf) else { return false }
        for (key, value) in attributes where has[key]?.contains(value) != true { return false }
        return actions.contains { $0.matches(action) } && resources.contains { $0.matches(resource) }
    }
}

/// A name pattern where `*` matches any run of characters (none included), and every other character itself.
struct GlobPattern: Sendable, Hashable {
    /// The literal pieces between the stars.
    let pieces: [[UInt8]]

    init(_ pattern: String) {
        pieces = pattern.utf8.split(separator: UInt8(ascii: "*"), omittingEmptySubsequences: false).map(Array.init)
    }

    func matches(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        if pieces.count == 1 { return bytes == pieces[0] }
        let first = pieces[0]
        let last = pieces[pieces.count - 1]
        guard bytes.count >= first.count + last.count, bytes.starts(with: first),
            bytes.reversed().starts(
                with: last.reversed())
        else { return false }
        var position = first.count
        let end = bytes.count - last.count
        for piece in pieces.dropFirst().dropLast() where !piece.isEmpty {
            guard let found = Self.find(piece, in: bytes, from: position, to: end) else { return false }
            position = found + piece.count
        }
        return position <= end
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int, to end: Int) -> Int? {
        guard end - start >= needle.count else { return nil }
        for index in start...(end - needle.count) where haystack[index] == needle[0] {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
        }
        return nil
    }
}

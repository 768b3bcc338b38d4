import ArgumentParser
import FleetkeyCore
import Foundation

struct AuthzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authz", abstract: "Access control for an owner's devices: the policy, and decisions.",
        subcommands: [AuthzPolicy.self, AuthzCheck.self])
}

struct AuthzPolicy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Load or show the access-control policy (docs/authz.md).",
        subcommands: [AuthzPolicySet.self, AuthzPolicyShow.self])
}

struct AuthzPolicySet: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Check a policy file and put it in force.",
        discussion: """
            The whole file is checked first (fields, effects, patterns, and that every group it names exists); a \
            policy with any problem is refused with the rule and field named, and the policy in force stays. \
            Recorded as authz.policy-set.
            """)

    @OptionGroup var location: DirectoryOption
    @Argument(help: "The policy, a JSON file.") var file: String
    @Flag(help: "Print the result as JSON.") var json = false

    var reportedInput: String? { "policy '\(file)'" }

    func execute() async throws {
        guard let bytes = FileManager.default.contents(atPath: file) else {
            throw FleetkeyError(.invalidArgument, "cannot read the policy file '\(file)'")
        }
        let policy = try await AccessControl(
            store: try location.directory.openAccessRegistry(), clock: Runtime.clock, actor: Actor.current
        ).setPolicy(Array(bytes))
        if json {
            try Output.json(["digest": policy.digest, "rules": "\(policy.rules.count)"])
        } else {
            Output.line("Loaded policy sha256:\(policy.digest) with \(policy.rules.count) rule(s)")
        }
    }
}

struct AuthzPolicyShow: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print the policy in force, as it was loaded.")

    @OptionGroup var location: DirectoryOption

    func execute() async throws {
        guard let policy = try await location.directory.openAccessRegistry().accessPolicy() else {
            throw FleetkeyError(.notFound, "no access policy is loaded; load one with `fleetkey authz policy set FILE`")
        }
        FileHandle.standardOutput.write(Data(policy.document))
    }
}

struct AuthzCheck: FleetkeyCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Decide whether a device may take an action on a resource.",
        discussion: """
            The device is named by its certificate (--cert, PEM or DER) or its serial (--serial, VENDOR/SERIAL when \
            several vendors use it). Prints allow or deny with the deciding rule and the reason; exits 0 on allow \
            and 1 on deny. Every deny of a known device is recorded as authz.denied.
            """)

    @OptionGroup var location: DirectoryOption
    @Option(help: "The device's certificate (PEM or DER).") var cert: String?
    @Option(help: "The device's serial, or VENDOR/SERIAL.") var serial: String?
    @Option(help: "The action, for example publish.") var action: String
    @Option(help: "The resource, for example telemetry/berlin/t1.") var resource: String
    @Flag(help: "Print the decision as JSON.") var json = false

    func execute() async throws {
        guard (cert == nil) != (serial == nil) else {
            throw FleetkeyError(.invalidArgument, "name the device with exactly one of --cert FILE or --serial S")
        }
        let registry = try location.directory.openAccessRegistry()
        let subject: AccessDecisionPoint.Subject
        if let cert {
            guard let bytes = FileManager.default.contents(atPath: cert) else {
                throw FleetkeyError(.invalidArgument, "cannot read the certificate file '\(cert)'")
            }
            subject = .certificate(try PEMOrDER.der(Array(bytes), label: "CERTIFICATE", source: "--cert '\(cert)'"))
        } else {
            subject = .device(try await DeviceShow.find(serial!, in: registry))
        }
        let point = try await AccessDecisionPoint.load(registry: registry, clock: Runtime.clock, actor: Actor.current)
        let decision = try await point.decide(
            .init(subject: subject, action: action, resource: resource, requester: "cli"),
            snapshot: try await .load(from: registry))
        if json {
            try Output.json(decision)
        } else {
            Output.line("\(decision.decision): \(decision.reason)")
            if let rule = decision.rule { Output.line("  rule         \(rule)") }
            if let device = decision.device { Output.line("  device       \(device)") }
            if let certificate = decision.certificate { Output.line("  certificate  \(certificate)") }
        }
        if !decision.allowed { throw ExitCode(1) }
    }
}

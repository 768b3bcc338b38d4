import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// The HTTP/1.1 child channel with the connection bounds of ``ServerLimits`` around Hummingbird's:
/// Hummingbird closes idle connections (`idleTimeout`); this adds a deadline for reading each request and a hard
/// cap on body bytes, so a client that trickles a request in, one byte at a time, or streams an endless body,
/// loses its connection instead of holding it.
///
/// Pipeline, after TLS when there is TLS: ``RequestStartHandler`` (bytes) → HTTP codec → ``RequestEndHandler``
/// (HTTP parts) → Hummingbird's connection-state handler → the application.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel
    let requestTimeout: TimeAmount

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ServerLimits) {
        let maximumBodyBytes = limits.maximumBodyBytes
        base = HTTP1Channel(
            responder: responder,
            configuration: .init(
                additionalChannelHandlers: [RequestEndHandler(maximumBodyBytes: maximumBodyBytes)],
                idleTimeout: .seconds(Int64(limits.idleTimeoutSeconds))))
        requestTimeout = .seconds(Int64(limits.headerTimeoutSeconds))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let timeout = requestTimeout
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RequestStartHandler(timeout: timeout))
        }
        .flatMap { base.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Starts a request's read deadline: when the connection opens (so the first request's deadline also covers the
/// TLS handshake), and at the first byte after a response when the connection was idle. Closes the connection
/// when the deadline passes before ``RequestEndHandler`` has seen the whole request.
final class RequestStartHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Phase {
        /// Waiting for the first request, or for the next one's first byte after the previous response.
        case opening, idle
        /// A request is being read, under the deadline.
        case reading
        /// The request is read; its response is being made. No deadline: that is the server's time.
        case responding
    }

    let timeout: TimeAmount
    private(set) var phase = Phase.opening
    private var deadline: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if phase == .idle { arm(context) }
        context.fireChannelRead(data)
    }

    /// ``RequestEndHandler`` saw a request head begin: the deadline, if not running, starts now.
    func requestBegan() {
        if phase != .reading, let context { arm(context) }
    }

    /// ``RequestEndHandler`` saw the end of the request: no deadline while the server answers.
    func requestRead() {
        disarm()
        phase = .responding
    }

    /// ``RequestEndHandler`` saw the last pending response written: the connection idles until its next byte.
    func responsesWritten() {
        if phase == .responding { phase = .idle }
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard deadline == nil else { return }
        phase = .reading
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            self?.deadline = nil
            context.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}

/// Watches HTTP parts for ``RequestStartHandler``: a request's end stops its deadline, the last response's end
/// makes the connection idle; and a body larger than `maximumBodyBytes` closes the connection, so the server never
/// drains an endless upload (routes answer 413 to bodies over their own, smaller caps).
final class RequestEndHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let maximumBodyBytes: Int
    private var bodyBytes = 0
    private var pendingResponses = 0
    private var start: RequestStartHandler?

    init(maximumBodyBytes: Int) {
        self.maximumBodyBytes = maximumBodyBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        start = try? context.pipeline.syncOperations.handler(type: RequestStartHandler.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        start = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            bodyBytes = 0
            pendingResponses += 1
            start?.requestBegan()
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            guard bodyBytes <= maximumBodyBytes else {
                context.close(promise: nil)
                return
            }
        case .end:
            start?.requestRead()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            pendingResponses = max(0, pendingResponses - 1)
            if pendingResponses == 0 { start?.responsesWritten() }
        }
        context.write(data, promise: promise)
    }
}

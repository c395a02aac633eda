import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.temporal.internal.testservice.TestServicesStarter;
import java.net.InetSocketAddress;

/** Temporal's time-skipping test server on 127.0.0.1 only: args are the port and, optionally, --enable-time-skipping. */
public final class LoopbackTestServer {
  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    boolean skip = args.length > 1 && "--enable-time-skipping".equals(args[1]);
    TestServicesStarter services = new TestServicesStarter(!skip, 0);
    NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port));
    for (BindableService s : services.getServices()) builder.addService(s);
    Server server = builder.build().start();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> { server.shutdownNow(); services.close(); }));
    server.awaitTermination();
  }
}

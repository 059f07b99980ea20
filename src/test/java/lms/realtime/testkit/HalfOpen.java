package lms.realtime.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/** Half-open HTTP connections for flood tests: a request begun and never finished, and whether the server has let it go. */
public final class HalfOpen {
  private HalfOpen() {}

  /** A connection from {@code fromAddress} that has sent {@code start} (part of a request line) and nothing more. */
  public static Socket partial(String fromAddress, int port, String start) throws IOException {
    Socket s = new Socket();
    s.bind(new InetSocketAddress(fromAddress, 0));
    s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
    s.getOutputStream().write(start.getBytes(StandardCharsets.US_ASCII));
    s.getOutputStream().flush();
    return s;
  }

  /** True when the server has closed the connection (end of stream or reset), after any answer it wrote. */
  public static boolean closedByServer(Socket s) {
    try {
      s.setSoTimeout(50);
      InputStream in = s.getInputStream();
      while (true) {
        int b = in.read();
        if (b < 0) {
          return true;
        }
      }
    } catch (SocketTimeoutException e) {
      return false;
    } catch (IOException e) {
      return true;
    }
  }
}

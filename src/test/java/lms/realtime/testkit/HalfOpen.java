package lms.realtime.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

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
    return closedByServer(s, Duration.ofMillis(50));
  }

  /** The same, waiting up to {@code wait} for the end of stream. */
  public static boolean closedByServer(Socket s, Duration wait) {
    try {
      s.setSoTimeout((int) Math.max(1, wait.toMillis()));
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

  /**
   * How many of {@code sockets} the server closed by {@code deadline} ({@link System#nanoTime}): each
   * is read until its end of stream or the deadline, so this returns as soon as the last one is
   * closed, not at the deadline.
   */
  public static int closedBy(List<Socket> sockets, long deadline) {
    int closed = 0;
    for (Socket s : sockets) {
      long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
      closed += closedByServer(s, Duration.ofMillis(left)) ? 1 : 0;
    }
    return closed;
  }

  /** How many of {@code sockets} the server has closed by now (each given a millisecond to show it). */
  public static int closedNow(List<Socket> sockets) {
    int closed = 0;
    for (Socket s : sockets) {
      closed += closedByServer(s, Duration.ofMillis(1)) ? 1 : 0;
    }
    return closed;
  }
}

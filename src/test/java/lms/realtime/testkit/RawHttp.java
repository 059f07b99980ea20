package lms.realtime.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;

/** HTTP/1.1 by hand on a raw TCP socket: requests are written exactly as given, byte for byte. */
public final class RawHttp {
  private RawHttp() {}

  /** A connection to the node on loopback, from {@code fromAddress} (127.0.0.x). */
  public static Socket open(String fromAddress, int port) throws IOException {
    Socket s = new Socket();
    s.bind(new InetSocketAddress(fromAddress, 0));
    s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
    s.setSoTimeout(10_000);
    return s;
  }

  public static void write(Socket s, String text) throws IOException {
    s.getOutputStream().write(text.getBytes(StandardCharsets.ISO_8859_1));
    s.getOutputStream().flush();
  }

  /** Writes {@code request} on a new connection and reads one answer (empty when the node closed without one). */
  public static String exchange(int port, String request) throws IOException {
    try (Socket s = open("127.0.0.1", port)) {
      write(s, request);
      return response(s);
    }
  }

  /**
   * The next response on {@code s}: status line, header fields, and a body of its Content-Length
   * (the engine's answers all carry one; a 101 has no body). Empty when the connection ended first.
   */
  public static String response(Socket s) throws IOException {
    InputStream in = s.getInputStream();
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
      int b = read(in);
      if (b < 0) {
        return head.toString(StandardCharsets.ISO_8859_1);
      }
      head.write(b);
    }
    String text = head.toString(StandardCharsets.ISO_8859_1);
    int length = 0;
    for (String line : text.split("\r\n")) {
      if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
        length = Integer.parseInt(line.substring("content-length:".length()).trim());
      }
    }
    byte[] body = in.readNBytes(length);
    return text + new String(body, StandardCharsets.UTF_8);
  }

  private static int read(InputStream in) throws IOException {
    try {
      return in.read();
    } catch (IOException e) {
      return -1; // reset by the node
    }
  }

  /** The status code of a response, or -1 for none. */
  public static int status(String response) {
    return response.startsWith("HTTP/1.1 ") ? Integer.parseInt(response.substring(9, 12)) : -1;
  }

  /**
   * Waits up to {@code within} for the node to end the connection (end of stream or reset); true
   * if it did, false if it was still open then. What the node sends meanwhile is read and dropped.
   */
  public static boolean closedWithin(Socket s, Duration within) throws IOException {
    long deadline = System.nanoTime() + within.toNanos();
    InputStream in = s.getInputStream();
    int readTimeout = s.getSoTimeout();
    try {
      while (true) {
        long left = (deadline - System.nanoTime()) / 1_000_000;
        if (left <= 0) {
          return false;
        }
        s.setSoTimeout((int) left);
        if (in.read() < 0) {
          return true;
        }
      }
    } catch (SocketTimeoutException e) {
      return false;
    } catch (IOException e) {
      return true;
    } finally {
      if (!s.isClosed()) {
        s.setSoTimeout(readTimeout);
      }
    }
  }
}

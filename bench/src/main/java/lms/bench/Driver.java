package lms.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.jsonwebtoken.Jwts;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler.ClientHandshakeStateEvent;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketVersion;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import javax.crypto.spec.SecretKeySpec;
import org.HdrHistogram.Histogram;

/**
 * The fan-out load driver (issue 7): N members in one room, events published at a fixed rate from this
 * same process, publish-to-delivery latency of every delivery in an HdrHistogram.
 *
 * <p>One Netty NIO client (a few event loops) speaks three protocols, with one timing path:
 * <ul>
 *   <li>{@code lms}: {@code GET /ws?token=JWT}, wait for {@code welcome}, send
 *       {@code {"type":"join","room":"course:1"}}, wait for {@code joined}; a {@code {"type":"ping"}}
 *       every 20 s (the engine's heartbeat rule). Events are published through the backend API,
 *       {@code POST /api/v1/rooms/{room}/events} with a service JWT.
 *   <li>{@code socketio}: Engine.IO v4 over WebSocket, {@code GET /socket.io/?EIO=4&transport=websocket},
 *       wait for the open packet {@code 0{...}}, send {@code 40}, wait for {@code 40{...}}; answer every
 *       ping {@code 2} with a pong {@code 3}. Events ({@code 42["event",{...}]}) are published with
 *       {@code POST /publish} on the peer server.
 *   <li>{@code plain}: a bare WebSocket on {@code /ws} (the Netty ceiling); a member once the handshake
 *       is done; events published with {@code POST /publish}.
 *   <li>{@code lms} with {@code --member-kind sse} (issue 24; fan-out and hold): the HTTP fallback,
 *       {@code GET /sse?token=JWT}, frames POSTed to the welcome's {@code postUrl} ({@link SseMember}).
 * </ul>
 *
 * <p>Every event's data starts with {@code "t":<System.nanoTime() of the publisher>}, taken just before
 * the POST is handed to the HTTP client. A member's event loop finds {@code "t":} in the frame's bytes
 * (no JSON parse, no String), the same code for every protocol, and records now - t in microseconds in
 * its own loop's histogram; the histograms are merged at the end. The measure window starts after the
 * warm-up: latency and "expected vs received" cover the events published inside the window;
 * deliveries/s counts the deliveries received inside the window, divided by its length. With
 * {@code --server-pid}, the server's utime+stime (from /proc/PID/stat) over the window is divided by
 * those deliveries: server CPU per delivery, the figure that compares servers fairly on a shared box.
 *
 * <p>Never fails on timing: it exits 0 whenever it could measure, 2 when no member could join.
 */
public final class Driver {

  enum Proto { LMS, SOCKETIO, PLAIN }

  static final int MAX_SOCKETS_PER_PROCESS = 19_000;
  /** Files the driver keeps open besides its sockets (jars, selectors, publish connections, jcmd pipes). */
  static final int FD_MARGIN = 500;
  static final long HIGHEST_US = TimeUnit.SECONDS.toMicros(120);
  static final long NO_T = Long.MIN_VALUE;

  // ---- options
  String scenario = "fanout";
  Proto proto = Proto.LMS;
  /** lms, fan-out and hold (issue 24): members on WebSockets ({@code ws}) or Server-Sent Events ({@code sse}, {@link SseMember}). */
  boolean sse;
  String label;
  URI base = URI.create("http://127.0.0.1:8080"); // the first of bases: publishes go here
  List<URI> bases = new ArrayList<>(List.of(base)); // members are spread over these, round robin
  String publishUrl;
  String room;
  int roomCount = 1; // durable: members i go to room + (i % roomCount + 1), events round robin over the rooms
  AtomicIntegerArray joinedPerRoom; // durable: members joined, per room (index i % roomCount)
  int members = 1000;
  int rate = 20;
  int seconds = 10;
  int warmup = 5;
  int payloadBytes = 128;
  String secret;
  String out;
  List<Long> serverPids = new ArrayList<>(); // CPU is summed over them; memory is read from the first
  long dbPid = -1; // durable: a database server (PostgreSQL's postmaster) whose CPU, children included, is read too
  int threads = 2;
  int connectConcurrency = 256;
  Integer connectRetries; // default: 5 (fan-out, hold), 0 (handshake storm: a failure counts)
  int joinTimeoutSeconds = 120;
  int drainSeconds = 10;
  int pingSeconds = 20;
  int publishConnections = 4;
  boolean publishConnectionsGiven;
  int prewarm = 2000;
  int idleSeconds = 2;
  List<InetAddress> sources = new ArrayList<>();
  int socketsPerSource = 0; // 0: sockets go to the source addresses round robin; N: in blocks of N
  // hold (Hold.java)
  int holdSeconds = 30;
  int holdWarmup = 1000;
  int settleSeconds = 5;
  int idleCpuSeconds = 30;      // the idle window at N sockets: server CPU while they only keep their heartbeat
  int idleBaselineSeconds = 5;  // the same at 0 sockets, after the baseline sample (0: not measured)
  // handshake storm (Handshake.java)
  int rounds = 2;
  // capacity step-up (Capacity.java): offered deliveries/s per step (members x events/s), the bound
  List<Long> steps = new ArrayList<>(List.of(20_000L, 40_000L, 60_000L, 80_000L, 100_000L, 120_000L, 140_000L,
      160_000L, 180_000L, 200_000L));
  double p99BoundMs = 50;
  double lossTolerance = 0.001; // a step falls behind when received < (1 - this) x expected
  int firstStepWarmup = 5;      // the first step's warm-up (the server's publish and fan-out code still cold)
  boolean stepsGiven;
  // publish (Publish.java, issue 23): room counts, client threads, the batch phase
  List<Integer> publishRooms = new ArrayList<>(List.of(1, 1000));
  int clientThreads = 1;
  int batchUsers = 1000;        // 0: no batch phase
  int batchSize = 100;
  int batchConnections = 4;
  int batchWarmup = 5;
  boolean userTokens;           // members are users in their own user: room (socket.io: a token in the URI)
  // lms-day (LmsDay.java, issue 23)
  final LmsDay.Options day = new LmsDay.Options();

  // ---- run state
  volatile long measureStart = Long.MAX_VALUE;
  volatile long measureEnd = Long.MAX_VALUE;
  volatile boolean stopping;
  final AtomicInteger connected = new AtomicInteger();
  final AtomicInteger joined = new AtomicInteger();
  final AtomicInteger settled = new AtomicInteger(); // members that joined or failed (each once)
  final AtomicLong lastReady = new AtomicLong(Long.MIN_VALUE);
  final AtomicInteger pongs = new AtomicInteger();
  final AtomicInteger unexpectedCloses = new AtomicInteger();
  final Map<String, LongAdder> failures = new ConcurrentHashMap<>();
  final Map<String, LongAdder> retries = new ConcurrentHashMap<>(); // failed attempts that were tried again
  final Map<Integer, LongAdder> closeCodes = new ConcurrentHashMap<>();
  final Map<EventExecutor, Stats> statsByLoop = new IdentityHashMap<>();
  final List<Channel> channels = java.util.Collections.synchronizedList(new ArrayList<>());
  Semaphore connectSlots;
  HttpPool sseFrames; // sse: the members' POSTs of their frames (join, ping), over a few keep-alive connections
  SecretKeySpec key;
  EventLoopGroup group;
  Bootstrap bootstrap;

  /** Per event loop: touched only by that loop's thread; read at the end through a task on the loop. */
  static final class Stats {
    final Histogram latencyUs = new Histogram(HIGHEST_US, 3);
    final Histogram handshakeUs = new Histogram(HIGHEST_US, 3); // connect() to welcome (or its equivalent)
    long total;            // every event frame received
    long windowReceived;   // received inside the measure window
    long windowBytes;      // their payload bytes
    long measured;         // of events published inside the window (these are in the histogram)
    long clamped;          // latencies above HIGHEST_US

    void addTo(Stats into) {
      into.latencyUs.add(latencyUs);
      into.handshakeUs.add(handshakeUs);
      into.total += total;
      into.windowReceived += windowReceived;
      into.windowBytes += windowBytes;
      into.measured += measured;
      into.clamped += clamped;
    }

    /** Back to zero (capacity: between steps); on the loop's own thread. */
    void reset() {
      latencyUs.reset();
      handshakeUs.reset();
      total = 0;
      windowReceived = 0;
      windowBytes = 0;
      measured = 0;
      clamped = 0;
    }
  }

  public static void main(String[] args) throws Exception {
    if (System.getProperty("io.netty.leakDetection.level") == null) {
      System.setProperty("io.netty.leakDetection.level", "disabled");
    }
    Driver d = new Driver();
    try {
      d.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("driver: " + e.getMessage());
      System.err.println(USAGE);
      System.exit(64);
    }
    System.exit(switch (d.scenario) {
      case "hold" -> new Hold(d).run();
      case "handshake" -> new Handshake(d).run();
      case "capacity" -> new Capacity(d).run();
      case "durable" -> new Durable(d).run();
      case "publish" -> new Publish(d).run();
      case "lms-day" -> new LmsDay(d).run();
      default -> d.run();
    });
  }

  static final String USAGE = """
      usage: java -cp lms-bench.jar lms.bench.Driver [--scenario fanout|hold|handshake|capacity|durable|publish|lms-day]
               --server lms|socketio|plain --url http://127.0.0.1:PORT[,http://127.0.0.1:PORT2,...]
               [--members 1000] [--rate 20] [--seconds 10] [--warmup 5] [--payload-bytes 128]
               [--secret S (lms)] [--room course:1|r|none] [--publish-url URL] [--server-pid PID[,PID2,...]]
               [--out file.json] [--label NAME] [--threads 2] [--connect-concurrency 256] [--join-timeout 120]
               [--drain 10] [--ping-seconds 20] [--publish-connections 4] [--prewarm 2000] [--idle-seconds 2]
               [--connect-retries 5 (fan-out, hold), 0 (handshake)] [--member-kind ws|sse (lms: fan-out, hold)]
               [--sources N (127.0.0.1..127.0.0.N) | --source-addrs 127.0.0.2,127.0.0.3] [--sockets-per-source N]
             hold:      --members N [--hold-seconds 30] [--hold-warmup 1000] [--settle-seconds 5]
                        [--idle-cpu-seconds 30] [--idle-baseline-seconds 5]
             handshake: --members M [--connect-concurrency K] [--rounds 2]
             capacity:  --members M [--steps 20000,40000,...,200000 (deliveries/s)] [--warmup 3 (per step)]
                        [--seconds 10 (per step)] [--first-step-warmup 5] [--drain 5] [--p99-bound-ms 50]
                        [--loss-tolerance 0.001]
             durable:   --server lms --members 500 (sockets in all) [--rooms 100] [--room course:d (a prefix: course:d1 ..)]
                        [--rate 500 (events/s in all)] [--warmup 5] [--seconds 20] [--publish-connections 16]
             publish:   [--publish-rooms 1,1000] [--publish-connections 16] [--client-threads 1] [--warmup 10]
                        [--seconds 20 (per room count)] [--batch-users 1000 (0: none)] [--batch-size 100]
                        [--batch-connections 4] [--batch-warmup 5] [--db-pid PID]
             lms-day:   [--students 5000] [--course-size 50] [--steps 1,2,4,... (multipliers)] [--warmup 3]
                        [--first-step-warmup 8] [--seconds 10] [--drain 5] [--p99-bound-ms 100]
                        [--tick-seconds 30] [--notify-seconds 600] [--announce-seconds 300] [--presence-seconds 20]
                        [--batch-size 100] [--publish-connections 8] [--db-pid PID]""";

  void parse(String[] a) {
    for (int i = 0; i < a.length; i++) {
      String k = a[i];
      if (i + 1 >= a.length) {
        throw new IllegalArgumentException("missing value for " + k);
      }
      String v = a[++i];
      switch (k) {
        case "--server" -> proto = switch (v) {
          case "lms" -> Proto.LMS;
          case "socketio", "socket.io" -> Proto.SOCKETIO;
          case "plain", "netty", "ceiling" -> Proto.PLAIN;
          default -> throw new IllegalArgumentException("unknown --server " + v);
        };
        case "--scenario" -> scenario = switch (v) {
          case "fanout", "hold", "handshake", "capacity", "durable", "publish", "lms-day" -> v;
          default -> throw new IllegalArgumentException("unknown --scenario " + v
              + " (fanout, hold, handshake, capacity, durable, publish, lms-day)");
        };
        case "--label" -> label = v;
        case "--member-kind" -> sse = switch (v) {
          case "ws" -> false;
          case "sse" -> true;
          default -> throw new IllegalArgumentException("unknown --member-kind " + v + " (ws, sse)");
        };
        case "--url" -> {
          bases.clear();
          for (String u : v.split(",")) {
            if (!u.isBlank()) {
              String t = u.trim();
              bases.add(URI.create(t.endsWith("/") ? t.substring(0, t.length() - 1) : t));
            }
          }
          if (bases.isEmpty()) {
            throw new IllegalArgumentException("--url needs at least one URL");
          }
          base = bases.get(0);
        }
        case "--publish-url" -> publishUrl = v;
        case "--room" -> room = v;
        case "--rooms" -> roomCount = Integer.parseInt(v);
        case "--members" -> members = Integer.parseInt(v);
        case "--rate" -> rate = Integer.parseInt(v);
        case "--seconds" -> seconds = Integer.parseInt(v);
        case "--warmup" -> warmup = Integer.parseInt(v);
        case "--payload-bytes" -> payloadBytes = Integer.parseInt(v);
        case "--secret" -> secret = v;
        case "--out" -> out = v;
        case "--server-pid" -> {
          serverPids.clear();
          for (String x : v.split(",")) {
            if (!x.isBlank()) {
              serverPids.add(Long.parseLong(x.trim()));
            }
          }
        }
        case "--db-pid" -> dbPid = Long.parseLong(v);
        case "--hold-seconds" -> holdSeconds = Integer.parseInt(v);
        case "--hold-warmup" -> holdWarmup = Integer.parseInt(v);
        case "--settle-seconds" -> settleSeconds = Integer.parseInt(v);
        case "--rounds" -> rounds = Integer.parseInt(v);
        case "--idle-cpu-seconds" -> idleCpuSeconds = Integer.parseInt(v);
        case "--idle-baseline-seconds" -> idleBaselineSeconds = Integer.parseInt(v);
        case "--steps" -> {
          stepsGiven = true;
          steps.clear();
          for (String x : v.split("[,\\s]+")) {
            if (!x.isBlank()) {
              steps.add(Long.parseLong(x.trim()));
            }
          }
          if (steps.isEmpty() || steps.stream().anyMatch(x -> x < 1)) {
            throw new IllegalArgumentException("--steps needs deliveries/s (lms-day: multipliers) >= 1");
          }
        }
        case "--publish-rooms" -> {
          publishRooms.clear();
          for (String x : v.split("[,\\s]+")) {
            if (!x.isBlank()) {
              publishRooms.add(Integer.parseInt(x.trim()));
            }
          }
          if (publishRooms.isEmpty() || publishRooms.stream().anyMatch(x -> x < 1)) {
            throw new IllegalArgumentException("--publish-rooms needs room counts >= 1");
          }
        }
        case "--client-threads" -> clientThreads = Integer.parseInt(v);
        case "--batch-users" -> batchUsers = Integer.parseInt(v);
        case "--batch-size" -> {
          batchSize = Integer.parseInt(v);
          day.batchSize = batchSize;
        }
        case "--batch-connections" -> batchConnections = Integer.parseInt(v);
        case "--batch-warmup" -> batchWarmup = Integer.parseInt(v);
        case "--students" -> day.students = Integer.parseInt(v);
        case "--course-size" -> day.courseSize = Integer.parseInt(v);
        case "--tick-seconds" -> day.tickSeconds = Double.parseDouble(v);
        case "--notify-seconds" -> day.notifySeconds = Double.parseDouble(v);
        case "--announce-seconds" -> day.announceSeconds = Double.parseDouble(v);
        case "--presence-seconds" -> day.presenceSeconds = Double.parseDouble(v);
        case "--p99-bound-ms" -> p99BoundMs = Double.parseDouble(v);
        case "--loss-tolerance" -> lossTolerance = Double.parseDouble(v);
        case "--first-step-warmup" -> firstStepWarmup = Integer.parseInt(v);
        case "--connect-retries" -> connectRetries = Integer.parseInt(v);
        case "--sources" -> {
          int n = Integer.parseInt(v);
          if (n < 1 || n > 254) {
            throw new IllegalArgumentException("--sources must be 1..254 (127.0.0.1..127.0.0.N)");
          }
          sources.clear();
          for (int q = 1; q <= n; q++) {
            try {
              sources.add(InetAddress.getByName("127.0.0." + q));
            } catch (IOException e) {
              throw new IllegalArgumentException("bad source address 127.0.0." + q);
            }
          }
        }
        case "--threads" -> threads = Integer.parseInt(v);
        case "--connect-concurrency" -> connectConcurrency = Integer.parseInt(v);
        case "--join-timeout" -> joinTimeoutSeconds = Integer.parseInt(v);
        case "--drain" -> drainSeconds = Integer.parseInt(v);
        case "--ping-seconds" -> pingSeconds = Integer.parseInt(v);
        case "--publish-connections" -> {
          publishConnections = Integer.parseInt(v);
          publishConnectionsGiven = true;
        }
        case "--prewarm" -> prewarm = Integer.parseInt(v);
        case "--idle-seconds" -> idleSeconds = Integer.parseInt(v);
        case "--sockets-per-source" -> socketsPerSource = Integer.parseInt(v);
        case "--source-addrs" -> {
          for (String s : v.split(",")) {
            if (!s.isBlank()) {
              try {
                sources.add(InetAddress.getByName(s.trim()));
              } catch (IOException e) {
                throw new IllegalArgumentException("bad source address " + s);
              }
            }
          }
        }
        default -> throw new IllegalArgumentException("unknown option " + k);
      }
    }
    if (members < 1 || rate < 1 || seconds < 1 || warmup < 0 || threads < 1) {
      throw new IllegalArgumentException("members, rate, seconds, threads must be >= 1, warmup >= 0");
    }
    if (members > MAX_SOCKETS_PER_PROCESS) {
      throw new IllegalArgumentException("at most " + MAX_SOCKETS_PER_PROCESS + " sockets per driver process"
          + " (the fd limit is 20,000); more members need several driver processes, not implemented yet");
    }
    long fdLimit = maxFileDescriptors();
    if (fdLimit > 0 && members + FD_MARGIN > fdLimit) {
      throw new IllegalArgumentException(members + " sockets need about " + (members + FD_MARGIN)
          + " open files in the driver, its limit is " + fdLimit + " (ulimit -n; run.sh raises it to the hard limit)");
    }
    if (!sources.isEmpty() && socketsPerSource > 0 && (long) sources.size() * socketsPerSource < members) {
      throw new IllegalArgumentException("--source-addrs x --sockets-per-source < --members");
    }
    if (proto == Proto.LMS && (secret == null || secret.length() < 32)) {
      throw new IllegalArgumentException("--server lms needs --secret (the engine's LMS_JWT_SECRET, >= 32 bytes)");
    }
    if (secret != null) {
      key = new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256");
    }
    if (sse && (proto != Proto.LMS || !(scenario.equals("fanout") || scenario.equals("hold")) || bases.size() != 1)) {
      throw new IllegalArgumentException("--member-kind sse is for --server lms, one --url, --scenario fanout or hold");
    }
    if (connectRetries == null) {
      connectRetries = scenario.equals("handshake") ? 0 : 5;
    }
    if (label == null) {
      label = switch (proto) {
        case LMS -> "lms-realtime";
        case SOCKETIO -> "socket.io";
        case PLAIN -> "netty-ceiling";
      };
    }
    if (scenario.equals("durable")) {
      if (proto != Proto.LMS) {
        throw new IllegalArgumentException("--scenario durable needs --server lms (durable rooms are the engine's)");
      }
      if (room == null) {
        room = "course:d"; // course:d1 .. course:d100
      }
      if (!room.startsWith("course:")) {
        throw new IllegalArgumentException("--scenario durable: --room is the prefix of course: rooms, e.g. course:d");
      }
      if (roomCount < 1 || roomCount > members) {
        throw new IllegalArgumentException("--rooms must be 1..--members");
      }
      if (!publishConnectionsGiven) {
        publishConnections = 16;
      }
      joinedPerRoom = new AtomicIntegerArray(roomCount);
    } else if (roomCount != 1) {
      throw new IllegalArgumentException("--rooms is for --scenario durable only");
    }
    if (scenario.equals("publish") || scenario.equals("lms-day")) {
      // their own rooms and calls (Publish, LmsDay); the socket.io peer checks the same JWTs as the engine
      if (proto != Proto.PLAIN && key == null) {
        throw new IllegalArgumentException("--scenario " + scenario + " needs --secret (the server's JWT secret)");
      }
      if (scenario.equals("lms-day") && proto == Proto.PLAIN) {
        throw new IllegalArgumentException("--scenario lms-day needs --server lms or socketio");
      }
      if (!publishConnectionsGiven) {
        publishConnections = scenario.equals("publish") ? 16 : 8;
      }
      if (clientThreads < 1 || batchSize < 1 || batchConnections < 1 || publishConnections < 1) {
        throw new IllegalArgumentException(
            "--client-threads, --batch-size, --batch-connections and --publish-connections must be >= 1");
      }
      int sockets = scenario.equals("publish") ? batchUsers : day.students + (day.students + day.courseSize - 1) / day.courseSize;
      if (sockets > MAX_SOCKETS_PER_PROCESS || day.students < 1 || day.courseSize < 1) {
        throw new IllegalArgumentException("at most " + MAX_SOCKETS_PER_PROCESS + " sockets per driver process (students"
            + " and an instructor per course, or --batch-users); --students and --course-size >= 1");
      }
      if (scenario.equals("lms-day") && !stepsGiven) {
        steps.clear();
        steps.addAll(List.of(1L, 2L, 4L, 8L, 16L, 32L, 64L, 128L, 256L));
      }
      return;
    }
    if (publishConnections < 1) {
      throw new IllegalArgumentException("--publish-connections must be >= 1");
    }
    if (room == null) {
      // the handshake storm stops at welcome: no room
      room = scenario.equals("handshake") ? "none" : proto == Proto.LMS ? "course:1" : "r";
    }
    if (room.equals("none")) {
      room = null; // lms: the member is ready at welcome; socket.io: the peer still puts it in its room r
      if (scenario.equals("fanout") || scenario.equals("capacity")) {
        throw new IllegalArgumentException("--room none makes no sense for " + scenario);
      }
    }
    if (publishUrl == null && room != null) {
      publishUrl = proto == Proto.LMS
          ? base + "/api/v1/rooms/" + room + "/events"
          : base + "/publish?room=" + room;
    }
  }

  // ------------------------------------------------------------------------------------------- run

  /** The client shared by every scenario: the event loops, a bootstrap, the stats of each loop. */
  void startClient() {
    group = new MultiThreadIoEventLoopGroup(threads, NioIoHandler.newFactory());
    for (EventExecutor loop : group) {
      statsByLoop.put(loop, new Stats());
    }
    bootstrap = new Bootstrap()
        .group(group)
        .channel(NioSocketChannel.class)
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 15_000);
    connectSlots = new Semaphore(connectConcurrency);
    if (sse) { // every member may have a frame waiting at once (the hold's last ping round): none is skipped
      sseFrames = new HttpPool(base.getHost(), port(base), SseMember.POST_CONNECTIONS, 2 * MAX_SOCKETS_PER_PROCESS);
    }
  }

  void stopClient() throws InterruptedException {
    stopping = true;
    closeAll();
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
    if (sseFrames != null) {
      sseFrames.close();
    }
  }

  void closeAll() {
    List<Channel> copy;
    synchronized (channels) {
      copy = new ArrayList<>(channels);
      channels.clear();
    }
    for (Channel ch : copy) {
      ch.close();
    }
  }

  /**
   * Closes every socket on purpose (not counted as an unexpected close) and waits up to {@code seconds}
   * for their channels to go inactive.
   */
  int closeAllAndWait(int seconds) throws InterruptedException {
    stopping = true;
    closeAll();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (joined.get() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    stopping = false;
    return joined.get();
  }

  /** What {@link #open} did: ready = members that got to their ready point (lms: welcome, or joined). */
  record Opened(int launched, int ready, int failed, long firstConnect, long lastReady, long done, boolean timedOut) {
    double seconds() {
      return ready == 0 ? Double.NaN : (lastReady - firstConnect) / 1e9;
    }
  }

  /** The member's source address: none, round robin over --sources / --source-addrs, or in blocks. */
  InetAddress source(int i) {
    if (sources.isEmpty()) {
      return null;
    }
    return socketsPerSource > 0
        ? sources.get(Math.min(sources.size() - 1, i / socketsPerSource))
        : sources.get(i % sources.size());
  }

  /**
   * Opens members from..from+uris.length-1 (their URIs signed beforehand, so no token is signed while the
   * clock runs), at most --connect-concurrency in flight (a slot is held from connect() to the member's
   * join, or failure), member i on bases[i % bases] and source(i). Returns when every one has joined or
   * failed, or at the deadline.
   */
  Opened open(String[] uris, int from, long deadline) throws InterruptedException {
    int settledBefore = settled.get();
    int joinedBefore = joined.get();
    long failuresBefore = failuresCount();
    lastReady.set(Long.MIN_VALUE);
    long first = System.nanoTime();
    int launched = 0;
    boolean timedOut = false;
    for (int k = 0; k < uris.length; k++) {
      if (!connectSlots.tryAcquire(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
        fail("timeout while connecting");
        timedOut = true;
        break;
      }
      connect(from + k, URI.create(uris[k]), 0);
      launched++;
    }
    while (settled.get() - settledBefore < launched && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    long done = System.nanoTime();
    if (settled.get() - settledBefore < launched) {
      timedOut = true;
    }
    int ready = joined.get() - joinedBefore;
    return new Opened(launched, ready, (int) (failuresCount() - failuresBefore), first, lastReady.get(), done, timedOut);
  }

  /** One attempt to open member i (its slot already taken). */
  void connect(int i, URI uri, int attempt) {
    Bootstrap b = bootstrap.clone().handler(initializer(uri, System.nanoTime(), i, attempt));
    InetSocketAddress remote = new InetSocketAddress(uri.getHost(), port(uri));
    InetAddress src = source(i);
    ChannelFuture f = src == null ? b.connect(remote) : b.connect(remote, new InetSocketAddress(src, 0));
    channels.add(f.channel());
    f.addListener(x -> {
      if (!x.isSuccess()) {
        String why = "connect: " + x.cause().getClass().getSimpleName() + ": " + x.cause().getMessage();
        Member m = f.channel().pipeline().get(Member.class);
        if (m != null) {
          m.giveUp(why); // on the channel's loop: listeners of a connect run there
        } else {
          fail(why);
          connectSlots.release();
          settled.incrementAndGet();
        }
      }
    });
  }

  /** The member URIs of members from..from+n-1, signed now. */
  String[] uris(int from, int n) {
    String[] u = new String[n];
    for (int k = 0; k < n; k++) {
      u[k] = memberUri(from + k).toString();
    }
    return u;
  }

  /** Channels still open. */
  int activeChannels() {
    synchronized (channels) {
      return (int) channels.stream().filter(Channel::isActive).count();
    }
  }

  /**
   * lms only: sends {"type":"ping"} on every joined socket and counts the pongs that come back within
   * the timeout: the sockets that really are held (open both ways, the engine still serving them).
   */
  int pingRound(int timeoutSeconds) throws InterruptedException {
    pongs.set(0);
    List<Channel> copy;
    synchronized (channels) {
      copy = new ArrayList<>(channels);
    }
    int asked = 0;
    for (Channel ch : copy) {
      Member m = ch.pipeline().get(Member.class);
      if (m != null && ch.isActive()) {
        asked++;
        ch.eventLoop().execute(() -> {
          if (m.state == Member.JOINED) {
            m.pongAsked = true;
            m.send(ch, "{\"type\":\"ping\"}");
          }
        });
      }
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
    while (pongs.get() < asked && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    return pongs.get();
  }

  // ------------------------------------------------------------------------ the fan-out scenario

  int run() throws Exception {
    startClient();
    Publisher publisher = new Publisher(publishConnections);
    try {
      // 0. pre-warm the publish path (the driver's and the server's) while the room is still empty:
      //    at 20 events/s it would otherwise run cold (interpreted) for most of a short run
      Map<String, Object> prewarmed = publisher.prewarm(prewarm);
      System.out.println("driver: pre-warm " + prewarmed);
      if (prewarm > 0 && (long) prewarmed.get("errors") == prewarm) {
        Map<String, Object> r = failedResult("every pre-warm publish failed: the publish call does not work");
        writeResult(r);
        System.err.println("driver: " + r);
        return 2;
      }
      // 1. members: connect (at most connectConcurrency handshakes in flight) and join
      long tokensStart = System.nanoTime();
      String[] uris = uris(0, members); // JWTs signed before the clock for joining starts
      double tokenSeconds = (System.nanoTime() - tokensStart) / 1e9;
      Opened opened = open(uris, 0, System.nanoTime() + TimeUnit.SECONDS.toNanos(joinTimeoutSeconds));
      double joinSeconds = (opened.done() - opened.firstConnect()) / 1e9;
      System.out.printf("driver: %s %s: %d of %d members joined in %.1f s%s%s%n", label, base, joined.get(), members,
          joinSeconds, failures.isEmpty() ? "" : ", failures " + failures, retries.isEmpty() ? "" : ", tried again after " + retries);
      if (joined.get() == 0) {
        writeResult(failedResult("no member joined"));
        return 2;
      }
      Thread.sleep(1000); // let the joins settle (room membership, presence diffs)

      // 2. publish at a fixed rate; the window starts after the warm-up
      long start = System.nanoTime() + 100_000_000L;
      measureStart = start + TimeUnit.SECONDS.toNanos(warmup);
      measureEnd = measureStart + TimeUnit.SECONDS.toNanos(seconds);
      int membersAtStart = joined.get();
      publisher.start = start;
      Thread pub = new Thread(publisher, "publisher");
      pub.setDaemon(true);
      pub.start();

      sleepUntil(measureStart);
      long[] cpu0 = cpuSample();
      long jit0 = jitTicks();
      sleepUntil(measureEnd);
      long[] cpu1 = cpuSample();
      long jit1 = jitTicks();
      pub.join(10_000);
      publisher.await(15_000);
      int membersAtEnd = joined.get();

      // 3. drain: wait for the deliveries of the window's events (bounded)
      long expected = publisher.inWindow.get() * (long) membersAtStart;
      long drainDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(drainSeconds);
      Stats sum = collect();
      while (sum.measured < expected && System.nanoTime() < drainDeadline) {
        Thread.sleep(100);
        sum = collect();
      }
      // the server's CPU with every member still joined and nothing published any more: its fixed
      // cost (timers, heartbeats, GC), to read beside the window's; taken after the window, when the
      // JIT work of start-up and joins is over
      long[] idle0 = cpuSample();
      Thread.sleep(TimeUnit.SECONDS.toMillis(idleSeconds));
      long[] idle1 = cpuSample();
      boolean haveServerCpu = !serverPids.isEmpty() && cpu0 != null && cpu1 != null && cpu0[0] >= 0 && cpu1[0] >= 0;
      stopping = true;

      // 4. the figures
      double window = (measureEnd - measureStart) / 1e9;
      Map<String, Object> r = result("fanout");
      if (bases.size() > 1) {
        r.put("urls", bases.stream().map(URI::toString).toList());
        r.put("nodes", bases.size());
      }
      r.put("members", members);
      r.put("members_joined", membersAtStart);
      r.put("members_joined_at_end", membersAtEnd);
      r.put("join_seconds", round(joinSeconds, 2));
      r.put("token_seconds", round(tokenSeconds, 2));
      r.put("rate", rate);
      r.put("warmup_s", warmup);
      r.put("seconds", seconds);
      r.put("payload_bytes", publisher.bodyBytes);
      r.put("threads", threads);
      r.put("prewarm", prewarmed);
      r.put("events_published", publisher.sent.get());
      r.put("events_in_window", publisher.inWindow.get());
      r.put("publish_errors", publisher.errors.sum());
      r.put("publish_skipped", publisher.skipped.get());
      r.put("publish_rtt_p50_ms", ms(publisher.rtt, 50));
      r.put("publish_rtt_p99_ms", ms(publisher.rtt, 99));
      r.put("expected", expected);
      r.put("received", sum.measured);
      r.put("lost", Math.max(0, expected - sum.measured));
      r.put("deliveries_in_window", sum.windowReceived);
      r.put("deliveries_per_s", Math.round(sum.windowReceived / window));
      r.put("avg_frame_bytes", sum.windowReceived == 0 ? null : sum.windowBytes / sum.windowReceived);
      r.put("p50_ms", ms(sum.latencyUs, 50));
      r.put("p90_ms", ms(sum.latencyUs, 90));
      r.put("p99_ms", ms(sum.latencyUs, 99));
      r.put("p999_ms", ms(sum.latencyUs, 99.9));
      r.put("max_ms", sum.latencyUs.getTotalCount() == 0 ? null : round(sum.latencyUs.getMaxValue() / 1000.0, 3));
      r.put("latency_clamped", sum.clamped);
      double ticks = clockTicks();
      if (cpu0 != null && cpu1 != null) {
        double serverCpu = haveServerCpu ? (cpu1[0] - cpu0[0]) / ticks : Double.NaN;
        double driverCpu = (cpu1[1] - cpu0[1]) / ticks;
        double boxBusy = cpu1[3] - cpu0[3] == 0 ? 0 : (double) (cpu1[2] - cpu0[2]) / (cpu1[3] - cpu0[3]);
        if (haveServerCpu) {
          r.put("server_pid", serverPids.size() == 1 ? serverPids.get(0) : serverPids);
          r.put("server_cpu_s", round(serverCpu, 2));
          r.put("server_cpu_pct", round(100 * serverCpu / window, 1));
          r.put("server_cpu_us_per_delivery",
              sum.windowReceived == 0 ? null : round(serverCpu * 1e6 / sum.windowReceived, 3));
          if (jit0 >= 0 && jit1 >= jit0) { // the JIT compiler threads' part (a fresh JVM), and the rest
            double jit = (jit1 - jit0) / ticks;
            r.put("server_jit_cpu_pct", round(100 * jit / window, 1));
            r.put("server_cpu_us_per_delivery_without_jit",
                sum.windowReceived == 0 ? null : round((serverCpu - jit) * 1e6 / sum.windowReceived, 3));
          }
        } else {
          r.put("server_cpu_us_per_delivery", null);
        }
        if (haveServerCpu && idle0 != null && idle1 != null && idle0[0] >= 0 && idle1[0] >= 0 && idleSeconds > 0) {
          r.put("server_idle_cpu_pct", round(100 * (idle1[0] - idle0[0]) / ticks / idleSeconds, 1));
        }
        r.put("driver_cpu_pct", round(100 * driverCpu / window, 1));
        r.put("driver_cpu_us_per_delivery",
            sum.windowReceived == 0 ? null : round(driverCpu * 1e6 / sum.windowReceived, 3));
        r.put("box_cpu_busy_pct", round(100 * boxBusy, 1)); // all processes, all cores: other work shows here
      }
      r.put("unexpected_closes", unexpectedCloses.get());
      r.put("close_codes", new TreeMap<>(closeCodes));
      r.put("failures", new TreeMap<>(failures));
      r.put("connect_retries", new TreeMap<>(retries));
      r.put("nproc", Runtime.getRuntime().availableProcessors());
      writeResult(r);
      System.out.printf("driver: %s members=%d rate=%d/s: %d/%d received, %d deliveries/s; p50 %s ms, p99 %s ms, "
              + "p999 %s ms, max %s ms; server CPU %s us/delivery (%s%%), driver CPU %s%%, box busy %s%%%n",
          label, membersAtStart, rate, sum.measured, expected, r.get("deliveries_per_s"), r.get("p50_ms"),
          r.get("p99_ms"), r.get("p999_ms"), r.get("max_ms"), r.get("server_cpu_us_per_delivery"),
          r.get("server_cpu_pct"), r.get("driver_cpu_pct"), r.get("box_cpu_busy_pct"));
      return 0;
    } finally {
      stopping = true;
      publisher.shutdown();
      stopClient();
    }
  }

  URI memberUri(int i) {
    if (sse) {
      return URI.create(bases.get(i % bases.size()) + "/sse?token=" + memberToken(i));
    }
    String ws = bases.get(i % bases.size()).toString().replaceFirst("^http", "ws");
    return URI.create(switch (proto) {
      case LMS -> ws + "/ws?token=" + memberToken(i);
      case SOCKETIO -> ws + "/socket.io/?EIO=4&transport=websocket" + (room == null ? "" : "&room=" + room)
          + (userTokens ? "&token=" + memberToken(i) : "");
      case PLAIN -> ws + "/ws";
    });
  }

  static int port(URI u) {
    return u.getPort() > 0 ? u.getPort() : "wss".equals(u.getScheme()) ? 443 : 80;
  }

  /** Member i's room: the one room, or (durable) room + (i % roomCount + 1). */
  String roomOf(int i) {
    return room == null || joinedPerRoom == null ? room : room + (i % roomCount + 1);
  }

  String memberToken(int i) {
    Map<String, Object> claims = new LinkedHashMap<>();
    String r = roomOf(i);
    if (r != null && r.startsWith("course:")) {
      claims.put("courses", Map.of(r.substring("course:".length()), "student"));
    }
    return token(userOf(i), claims);
  }

  /** Member i's user id (the {@code sub} of its token). */
  static String userOf(int i) {
    return "bench-m-" + i;
  }

  String token(String sub, Map<String, Object> claims) {
    return Jwts.builder().subject(sub).claims(claims).issuedAt(new Date())
        .expiration(Date.from(Instant.now().plusSeconds(6 * 3600))).signWith(key).compact();
  }

  ChannelInitializer<SocketChannel> initializer(URI uri, long t0, int index, int attempt) {
    if (sse) {
      return SseMember.initializer(() -> new SseMember(this, t0, uri, index, attempt));
    }
    return initializer(uri, () -> new Member(t0, uri, index, attempt));
  }

  /** A WebSocket client pipeline ending in the handler {@code last} makes (lms-day has its own). */
  static ChannelInitializer<SocketChannel> initializer(URI uri, java.util.function.Supplier<io.netty.channel.ChannelHandler> last) {
    WebSocketClientProtocolConfig config = WebSocketClientProtocolConfig.newBuilder()
        .webSocketUri(uri)
        .version(WebSocketVersion.V13)
        .allowExtensions(false)
        .generateOriginHeader(false) // a server-side client: no Origin (the engine allows that, §2)
        .handleCloseFrames(false)    // the member handler records the close code
        .dropPongFrames(true)
        .withUTF8Validator(false)
        .maxFramePayloadLength(1 << 20)
        .handshakeTimeoutMillis(15_000)
        .build();
    return new ChannelInitializer<>() {
      @Override
      protected void initChannel(SocketChannel ch) {
        ch.pipeline().addLast(
            new HttpClientCodec(),
            new HttpObjectAggregator(1 << 16),
            new WebSocketClientProtocolHandler(config),
            new WebSocketFrameAggregator(1 << 20),
            last.get());
      }
    };
  }

  void fail(String why) {
    String k = why.length() > 160 ? why.substring(0, 160) : why;
    if (failures.size() < 50 || failures.containsKey(k)) {
      failures.computeIfAbsent(k, x -> new LongAdder()).increment();
    } else {
      failures.computeIfAbsent("(other)", x -> new LongAdder()).increment();
    }
  }

  long failuresCount() {
    return failures.values().stream().mapToLong(LongAdder::sum).sum();
  }

  // ------------------------------------------------------------------------------------ the member

  static final byte[] WELCOME_TYPE = "\"welcome\"".getBytes(StandardCharsets.US_ASCII);
  static final byte[] JOINED_TYPE = "\"joined\"".getBytes(StandardCharsets.US_ASCII);
  static final byte[] ERROR_TYPE = "\"error\"".getBytes(StandardCharsets.US_ASCII);
  static final byte[] PONG_TYPE = "\"pong\"".getBytes(StandardCharsets.US_ASCII);

  class Member extends ChannelInboundHandlerAdapter {
    static final int CONNECTING = 0, OPENING = 1, JOINING = 2, JOINED = 3;
    final long t0; // System.nanoTime() when connect() was called
    final URI uri;
    final int index;
    final int attempt;
    int state = CONNECTING;
    Stats stats;
    ScheduledFuture<?> heartbeat;
    boolean slotHeld = true;
    boolean pongAsked;

    Member(long t0, URI uri, int index, int attempt) {
      this.t0 = t0;
      this.uri = uri;
      this.index = index;
      this.attempt = attempt;
    }

    /**
     * The member failed before joining: with --connect-retries left (fan-out, hold: a client reconnects
     * with backoff) it connects again after 0.5 s x 2^attempt (up to 8 s) plus jitter, its connect slot
     * handed to the next attempt; otherwise the failure counts and the slot is released.
     */
    void giveUp(String why) {
      if (!slotHeld) {
        return;
      }
      if (attempt < connectRetries && !stopping) {
        slotHeld = false; // not released: the next attempt holds it
        String k = why.length() > 160 ? why.substring(0, 160) : why;
        retries.computeIfAbsent(retries.size() < 50 ? k : "(other)", x -> new LongAdder()).increment();
        long delay = Math.min(8000, 500L << attempt) + ThreadLocalRandom.current().nextLong(500);
        group.schedule(() -> connect(index, uri, attempt + 1), delay, TimeUnit.MILLISECONDS);
      } else {
        fail(why);
        releaseSlot();
      }
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      stats = statsByLoop.get(ctx.channel().eventLoop());
    }

    /** One client frame to the server: a WebSocket text frame ({@link SseMember}: a POST). On the channel's loop. */
    void send(Channel ch, String frame) {
      ch.writeAndFlush(new TextWebSocketFrame(frame), ch.voidPromise());
    }

    void releaseSlot() {
      if (slotHeld) {
        slotHeld = false;
        settled.incrementAndGet();
        connectSlots.release();
      }
    }

    /** The handshake is done: lms welcome, socket.io's CONNECT answer, plain's WebSocket upgrade. */
    void ready() {
      long now = System.nanoTime();
      stats.handshakeUs.recordValue(Math.min(Math.max(0, (now - t0) / 1000), HIGHEST_US));
      lastReady.accumulateAndGet(now, Math::max);
    }

    void joined(ChannelHandlerContext ctx) {
      state = JOINED;
      joined.incrementAndGet();
      if (joinedPerRoom != null) {
        joinedPerRoom.incrementAndGet(index % roomCount);
      }
      releaseSlot();
      if (proto == Proto.LMS && pingSeconds > 0) {
        long period = TimeUnit.SECONDS.toMillis(pingSeconds);
        heartbeat = ctx.channel().eventLoop().scheduleAtFixedRate(() -> send(ctx.channel(), "{\"type\":\"ping\"}"),
            ThreadLocalRandom.current().nextLong(period), period, TimeUnit.MILLISECONDS);
      }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
      if (evt == ClientHandshakeStateEvent.HANDSHAKE_COMPLETE) {
        connected.incrementAndGet();
        if (proto == Proto.PLAIN) {
          ready();
          joined(ctx);
        } else {
          state = OPENING;
        }
      } else if (evt == ClientHandshakeStateEvent.HANDSHAKE_TIMEOUT) {
        giveUp("handshake timeout");
      }
      super.userEventTriggered(ctx, evt);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      try {
        if (msg instanceof TextWebSocketFrame f) {
          ByteBuf c = f.content();
          if (state == JOINED) {
            onJoinedFrame(ctx, c);
          } else {
            onSetupFrame(ctx, c);
          }
        } else if (msg instanceof CloseWebSocketFrame cf) {
          closeCodes.computeIfAbsent(cf.statusCode(), x -> new LongAdder()).increment();
          if (!stopping && closeCodes.size() < 20) {
            System.err.printf("driver: close %d %s%n", cf.statusCode(), cf.reasonText());
          }
          ctx.close();
        }
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }

    /** The one timing path, the same for every protocol. */
    void onJoinedFrame(ChannelHandlerContext ctx, ByteBuf c) {
      long t = findT(c);
      if (t != NO_T) {
        long now = System.nanoTime();
        Stats s = stats;
        s.total++;
        if (now >= measureStart && now < measureEnd) {
          s.windowReceived++;
          s.windowBytes += c.readableBytes();
        }
        if (t >= measureStart && t < measureEnd) {
          s.measured++;
          long us = (now - t) / 1000;
          if (us > HIGHEST_US) {
            s.clamped++;
            us = HIGHEST_US;
          }
          s.latencyUs.recordValue(Math.max(0, us));
        }
        return;
      }
      if (pongAsked && proto == Proto.LMS && contains(c, PONG_TYPE)) {
        pongAsked = false;
        pongs.incrementAndGet();
        return;
      }
      if (proto == Proto.SOCKETIO && c.readableBytes() == 1 && c.getByte(c.readerIndex()) == '2') {
        ctx.writeAndFlush(new TextWebSocketFrame("3"), ctx.voidPromise()); // Engine.IO pong
      }
    }

    void onSetupFrame(ChannelHandlerContext ctx, ByteBuf c) {
      switch (proto) {
        case LMS -> {
          if (state == OPENING && contains(c, WELCOME_TYPE)) {
            ready();
            if (room == null) {
              joined(ctx); // no room: the member is held from welcome on
              return;
            }
            state = JOINING;
            send(ctx.channel(), "{\"type\":\"join\",\"room\":\"" + roomOf(index) + "\",\"id\":\"j\"}");
          } else if (state == JOINING && contains(c, JOINED_TYPE)) {
            joined(ctx);
          } else if (contains(c, ERROR_TYPE)) {
            fail("lms error frame: " + c.toString(StandardCharsets.UTF_8));
            releaseSlot();
          }
        }
        case SOCKETIO -> {
          int n = c.readableBytes();
          byte b0 = n > 0 ? c.getByte(c.readerIndex()) : 0;
          byte b1 = n > 1 ? c.getByte(c.readerIndex() + 1) : 0;
          if (state == OPENING && b0 == '0') {          // Engine.IO open
            state = JOINING;
            ctx.writeAndFlush(new TextWebSocketFrame("40"), ctx.voidPromise()); // connect to "/"
          } else if (state == JOINING && b0 == '4' && b1 == '0') {  // Socket.IO CONNECT answered
            ready();
            joined(ctx);
          } else if (b0 == '4' && b1 == '4') {          // CONNECT_ERROR
            fail("socket.io connect error: " + c.toString(StandardCharsets.UTF_8));
            releaseSlot();
          } else if (n == 1 && b0 == '2') {
            ctx.writeAndFlush(new TextWebSocketFrame("3"), ctx.voidPromise());
          }
        }
        case PLAIN -> { }
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
      if (heartbeat != null) {
        heartbeat.cancel(false);
      }
      if (state == JOINED) {
        joined.decrementAndGet();
        if (joinedPerRoom != null) {
          joinedPerRoom.decrementAndGet(index % roomCount);
        }
        if (!stopping) {
          unexpectedCloses.incrementAndGet();
        }
      } else if (slotHeld) {
        giveUp("closed before joining");
      }
      releaseSlot();
      super.channelInactive(ctx);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      if (state != JOINED) {
        giveUp(cause.getClass().getSimpleName() + ": " + cause.getMessage());
      } else if (!stopping) {
        fail("after join: " + cause.getClass().getSimpleName() + ": " + cause.getMessage());
      }
      ctx.close();
    }
  }

  static final byte[] T_KEY = "\"t\":".getBytes(StandardCharsets.US_ASCII);

  /** The publisher's nanoTime after {@code "t":} in the frame, or {@link #NO_T}. No JSON parse. */
  static long findT(ByteBuf b) {
    int j = after(b, T_KEY);
    if (j < 0) {
      return NO_T;
    }
    int end = b.writerIndex();
    while (j < end && b.getByte(j) == ' ') {
      j++;
    }
    boolean neg = j < end && b.getByte(j) == '-';
    long v = digits(b, neg ? j + 1 : j);
    return v == NO_T ? NO_T : neg ? -v : v;
  }

  static boolean contains(ByteBuf b, byte[] needle) {
    return after(b, needle) >= 0;
  }

  /** The index just after the first {@code needle} in b's readable bytes, or -1. */
  static int after(ByteBuf b, byte[] needle) {
    int end = b.writerIndex() - needle.length;
    outer:
    for (int i = b.readerIndex(); i <= end; i++) {
      for (int k = 0; k < needle.length; k++) {
        if (b.getByte(i + k) != needle[k]) {
          continue outer;
        }
      }
      return i + needle.length;
    }
    return -1;
  }

  /** The decimal digits from index i on as a number, or {@link #NO_T} when there are none. */
  static long digits(ByteBuf b, int i) {
    long v = 0;
    int n = 0;
    for (int end = b.writerIndex(); i >= 0 && i < end; i++) {
      byte c = b.getByte(i);
      if (c < '0' || c > '9') {
        break;
      }
      v = v * 10 + (c - '0');
      n++;
    }
    return n == 0 ? NO_T : v;
  }

  // ---------------------------------------------------------------------------------- the publisher

  /**
   * Publishes at a fixed rate, open loop: the publisher thread wakes at each due time, stamps the event
   * with {@code t = System.nanoTime()} and hands it to one of a few keep-alive HTTP/1.1 connections, each
   * served by its own thread (plain blocking sockets: a few microseconds per request even before the JIT
   * warms up, where the JDK HttpClient added milliseconds). Time an event waits for a free connection
   * counts in its latency; when more than {@code 16 x connections} events wait, the next ones are
   * skipped and counted, so a stalled server cannot pile up requests.
   */
  final class Publisher implements Runnable {
    volatile long start;
    final URI uri = URI.create(publishUrl);
    final String head;
    final AtomicLong sent = new AtomicLong();
    final AtomicLong inWindow = new AtomicLong();
    final AtomicLong skipped = new AtomicLong();
    final AtomicInteger pending = new AtomicInteger();
    final LongAdder errors = new LongAdder();
    final Histogram rtt = new Histogram(HIGHEST_US, 3); // guarded by itself
    final java.util.concurrent.LinkedBlockingQueue<long[]> jobs = new java.util.concurrent.LinkedBlockingQueue<>();
    final List<Thread> workers = new ArrayList<>();
    final int connections;
    volatile int bodyBytes;
    long periodNanos; // 0: 1 s / --rate; capacity sets its step's period (events/s need not be whole)

    Publisher(int connections) {
      this.connections = connections;
      String path = uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
      String auth = proto == Proto.LMS
          ? "Authorization: Bearer " + token("bench-backend", Map.of("roles", List.of("service"))) + "\r\n" : "";
      head = "POST " + path + " HTTP/1.1\r\nHost: " + uri.getHost() + ":" + port(uri) + "\r\n"
          + "Content-Type: application/json\r\n" + auth + "Content-Length: ";
      for (int i = 0; i < connections; i++) {
        Thread w = new Thread(this::work, "publisher-conn-" + i);
        w.setDaemon(true);
        workers.add(w);
        w.start();
      }
    }

    /** Publishes n events back to back (closed loop, one per connection in flight); resets the counters. */
    Map<String, Object> prewarm(int n) throws InterruptedException {
      long t0 = System.nanoTime();
      for (int i = 0; i < n; i++) {
        while (pending.get() >= connections) {
          LockSupport.parkNanos(20_000);
        }
        pending.incrementAndGet();
        jobs.add(new long[] {System.nanoTime(), -1 - i});
      }
      while (pending.get() > 0 && System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(60)) {
        LockSupport.parkNanos(100_000);
      }
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("events", n);
      r.put("errors", errors.sumThenReset());
      r.put("seconds", round((System.nanoTime() - t0) / 1e9, 2));
      r.put("rtt_p50_ms", ms(rtt, 50));
      r.put("rtt_p99_ms", ms(rtt, 99));
      synchronized (rtt) {
        rtt.reset();
      }
      return r;
    }

    void shutdown() {
      for (int i = 0; i < connections; i++) {
        jobs.add(new long[0]);
      }
    }

    /** {"event":"tick","data":{"t":<nanoTime>,"n":<seq>,"pad":"xx..."}}, padded to --payload-bytes. */
    String body(long t, long n) {
      String prefix = "{\"event\":\"tick\",\"data\":{\"t\":" + t + ",\"n\":" + n + ",\"pad\":\"";
      String suffix = "\"}}";
      int pad = Math.max(0, payloadBytes - prefix.length() - suffix.length());
      return prefix + "x".repeat(pad) + suffix;
    }

    @Override
    public void run() {
      long period = periodNanos > 0 ? periodNanos : 1_000_000_000L / rate;
      try {
        for (long n = 0; ; n++) {
          long due = start + n * period;
          if (due >= measureEnd) {
            return;
          }
          long wait;
          while ((wait = due - System.nanoTime()) > 0) {
            LockSupport.parkNanos(wait); // no spinning: the box has 2 cores
          }
          if (pending.get() >= 16 * connections) {
            skipped.incrementAndGet();
            continue;
          }
          long t = System.nanoTime();
          sent.incrementAndGet();
          if (t >= measureStart && t < measureEnd) {
            inWindow.incrementAndGet();
          }
          pending.incrementAndGet();
          jobs.add(new long[] {t, n});
        }
      } finally {
        shutdown();
      }
    }

    void work() {
      java.net.Socket socket = null;
      java.io.InputStream in = null;
      java.io.OutputStream outStream = null;
      while (true) {
        long[] job;
        try {
          job = jobs.take();
        } catch (InterruptedException e) {
          return;
        }
        if (job.length == 0) {
          break;
        }
        String body = body(job[0], job[1]);
        bodyBytes = body.length();
        try {
          if (socket == null) {
            socket = new java.net.Socket();
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(10_000);
            socket.connect(new InetSocketAddress(uri.getHost(), port(uri)), 5_000);
            in = new java.io.BufferedInputStream(socket.getInputStream(), 8192);
            outStream = socket.getOutputStream();
          }
          byte[] b = body.getBytes(StandardCharsets.UTF_8);
          byte[] h = (head + b.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
          byte[] req = new byte[h.length + b.length];
          System.arraycopy(h, 0, req, 0, h.length);
          System.arraycopy(b, 0, req, h.length, b.length);
          outStream.write(req);
          outStream.flush();
          HttpAnswer a = readAnswer(in);
          long us = (System.nanoTime() - job[0]) / 1000;
          synchronized (rtt) {
            rtt.recordValue(Math.min(Math.max(0, us), HIGHEST_US));
          }
          if (a.status / 100 != 2) {
            errors.increment();
            fail("publish: HTTP " + a.status + " " + a.body);
          }
          if (a.close) {
            socket.close();
            socket = null;
          }
        } catch (IOException | RuntimeException e) {
          errors.increment();
          fail("publish: " + e.getClass().getSimpleName() + ": " + e.getMessage());
          if (socket != null) {
            try {
              socket.close();
            } catch (IOException ignored) {
              // gone anyway
            }
          }
          socket = null;
        } finally {
          pending.decrementAndGet();
        }
      }
      if (socket != null) {
        try {
          socket.close();
        } catch (IOException ignored) {
          // gone anyway
        }
      }
    }

    void await(long millis) throws InterruptedException {
      long deadline = System.currentTimeMillis() + millis;
      for (Thread w : workers) {
        w.join(Math.max(1, deadline - System.currentTimeMillis()));
      }
    }
  }

  record HttpAnswer(int status, String body, boolean close) { }

  /** A minimal HTTP/1.1 response reader: status line, headers, a Content-Length or chunked body. */
  static HttpAnswer readAnswer(java.io.InputStream in) throws IOException {
    String status = readLine(in);
    if (status == null) {
      throw new IOException("connection closed by the server");
    }
    String[] parts = status.split(" ", 3);
    int code = Integer.parseInt(parts[1]);
    int length = -1;
    boolean chunked = false;
    boolean close = status.startsWith("HTTP/1.0");
    for (String line; (line = readLine(in)) != null && !line.isEmpty(); ) {
      int colon = line.indexOf(':');
      if (colon < 0) {
        continue;
      }
      String name = line.substring(0, colon).trim().toLowerCase(java.util.Locale.ROOT);
      String value = line.substring(colon + 1).trim();
      switch (name) {
        case "content-length" -> length = Integer.parseInt(value);
        case "transfer-encoding" -> chunked = value.toLowerCase(java.util.Locale.ROOT).contains("chunked");
        case "connection" -> close = value.equalsIgnoreCase("close");
        default -> { }
      }
    }
    java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
    if (chunked) {
      while (true) {
        String size = readLine(in);
        int n = Integer.parseInt(size.split(";")[0].trim(), 16);
        if (n == 0) {
          while (true) { // trailers
            String t = readLine(in);
            if (t == null || t.isEmpty()) {
              break;
            }
          }
          break;
        }
        body.write(in.readNBytes(n));
        readLine(in);
      }
    } else if (length >= 0) {
      body.write(in.readNBytes(length));
    } else {
      close = true; // body to the end of the connection: not expected from any of the servers
    }
    return new HttpAnswer(code, body.toString(StandardCharsets.UTF_8), close);
  }

  static String readLine(java.io.InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder(64);
    int c;
    while ((c = in.read()) >= 0) {
      if (c == '\n') {
        int len = sb.length();
        return len > 0 && sb.charAt(len - 1) == '\r' ? sb.substring(0, len - 1) : sb.toString();
      }
      sb.append((char) c);
    }
    return sb.length() == 0 ? null : sb.toString();
  }

  // ------------------------------------------------------------------------------------ utilities

  Stats collect() throws Exception {
    Stats sum = new Stats();
    for (Map.Entry<EventExecutor, Stats> e : statsByLoop.entrySet()) {
      Stats copy = e.getKey().submit(() -> {
        Stats c = new Stats();
        e.getValue().addTo(c);
        return c;
      }).get(5, TimeUnit.SECONDS);
      copy.addTo(sum);
    }
    return sum;
  }

  static void sleepUntil(long nanoTime) throws InterruptedException {
    long wait;
    while ((wait = nanoTime - System.nanoTime()) > 0) {
      Thread.sleep(Math.max(1, Math.min(wait / 1_000_000, 200)));
    }
  }

  /** [server utime+stime ticks (summed over --server-pid) or -1, driver ticks, box busy jiffies, box total jiffies]. */
  long[] cpuSample() {
    try {
      long server = serverPids.isEmpty() ? -1 : 0;
      for (long pid : serverPids) {
        server += procTicks("/proc/" + pid + "/stat");
      }
      long self = procTicks("/proc/self/stat");
      String[] cpu = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
      long total = 0;
      for (int i = 1; i < cpu.length && i <= 8; i++) {
        total += Long.parseLong(cpu[i]);
      }
      long idle = Long.parseLong(cpu[4]) + Long.parseLong(cpu[5]);
      return new long[] {server, self, total - idle, total};
    } catch (IOException | RuntimeException e) {
      fail("cpu sample: " + e);
      return null;
    }
  }

  /**
   * The JIT compiler threads' utime+stime (ticks), summed over the server processes: the threads named
   * {@code C1 CompilerThre...} / {@code C2 CompilerThre...} in /proc/PID/task/TID/stat. A fresh JVM spends
   * a good part of its first minute there; -1 when it cannot be read or there are no such threads (node).
   */
  long jitTicks() {
    if (serverPids.isEmpty()) {
      return -1;
    }
    long sum = 0;
    boolean found = false; // not a JVM (node): no figure
    try {
      for (long pid : serverPids) {
        try (java.util.stream.Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
          for (Path t : tasks.toList()) {
            try {
              String st = Files.readString(t.resolve("stat"));
              int open = st.indexOf('(');
              int close = st.lastIndexOf(')');
              String comm = st.substring(open + 1, close);
              if (comm.startsWith("C1 CompilerThre") || comm.startsWith("C2 CompilerThre")) {
                found = true;
                String[] f = st.substring(close + 2).split(" ");
                sum += Long.parseLong(f[14 - 3]) + Long.parseLong(f[15 - 3]);
              }
            } catch (IOException | RuntimeException gone) {
              // a thread that ended meanwhile
            }
          }
        }
      }
      return found ? sum : -1;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /**
   * A process tree's CPU (ticks): the process's utime+stime+cutime+cstime (children it has reaped) plus
   * utime+stime of its live children (PostgreSQL: the postmaster and its backends); -1 when unreadable.
   */
  static long treeTicks(long pid) {
    try {
      String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
      String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
      long sum = Long.parseLong(f[14 - 3]) + Long.parseLong(f[15 - 3]) + Long.parseLong(f[16 - 3]) + Long.parseLong(f[17 - 3]);
      try (java.util.stream.Stream<Path> procs = Files.list(Path.of("/proc"))) {
        for (Path p : procs.filter(x -> x.getFileName().toString().chars().allMatch(Character::isDigit)).toList()) {
          try {
            String c = Files.readString(p.resolve("stat"));
            String[] g = c.substring(c.lastIndexOf(')') + 2).split(" ");
            if (Long.parseLong(g[4 - 3]) == pid) { // ppid
              sum += Long.parseLong(g[14 - 3]) + Long.parseLong(g[15 - 3]);
            }
          } catch (IOException | RuntimeException gone) {
            // ended meanwhile
          }
        }
      }
      return sum;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  static long procTicks(String file) throws IOException {
    String s = Files.readString(Path.of(file));
    String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
    // after "pid (comm) ": state is field 3, utime field 14, stime field 15 (1-based, man 5 proc)
    return Long.parseLong(f[14 - 3]) + Long.parseLong(f[15 - 3]);
  }

  /** The process's open-file limit (the soft one, which the JVM raises to the hard one by default), or -1. */
  static long maxFileDescriptors() {
    if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
        instanceof com.sun.management.UnixOperatingSystemMXBean u) {
      return u.getMaxFileDescriptorCount();
    }
    return -1;
  }

  static double clockTicks() {
    try {
      Process p = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
      String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim();
      p.waitFor(5, TimeUnit.SECONDS);
      return Double.parseDouble(v);
    } catch (Exception e) {
      return 100;
    }
  }

  static Double ms(Histogram h, double percentile) {
    synchronized (h) {
      return h.getTotalCount() == 0 ? null : round(h.getValueAtPercentile(percentile) / 1000.0, 3);
    }
  }

  static double round(double v, int places) {
    double f = Math.pow(10, places);
    return Math.round(v * f) / f;
  }

  /** A result file's first fields, the same for every scenario. */
  Map<String, Object> result(String scenario) {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("server", label);
    r.put("scenario", scenario);
    r.put("protocol", proto.name().toLowerCase());
    if (proto == Proto.LMS) {
      r.put("member_kind", sse ? "sse" : "ws"); // issue 24: Report keys fan-out and hold by it
    }
    r.put("url", base.toString());
    return r;
  }

  Map<String, Object> failedResult(String why) {
    Map<String, Object> r = result(scenario);
    if (bases.size() > 1) {
      r.put("nodes", bases.size());
    }
    r.put("members", members);
    r.put("members_joined", joined.get());
    r.put("rate", rate);
    r.put("error", why);
    r.put("failures", new TreeMap<>(failures));
    return r;
  }

  void writeResult(Map<String, Object> r) throws IOException {
    if (out == null) {
      return;
    }
    ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    Map<String, Object> copy = new LinkedHashMap<>();
    r.forEach((k, v) -> copy.put(k, v instanceof Map<?, ?> m ? stringKeys(m) : v));
    Files.writeString(Path.of(out), json.writeValueAsString(copy) + "\n");
  }

  static Map<String, Object> stringKeys(Map<?, ?> m) {
    Map<String, Object> r = new LinkedHashMap<>();
    m.forEach((k, v) -> r.put(String.valueOf(k), v instanceof LongAdder a ? a.sum() : v));
    return r;
  }
}

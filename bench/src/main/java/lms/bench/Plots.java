package lms.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.BitmapEncoder.BitmapFormat;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.CategorySeries;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler.LegendPosition;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The report's PNG plots (XChart), from the summarised rows of one run: fan-out latency percentiles,
 * deliveries/s and server CPU per delivery, per server and room size; bytes per idle socket; handshakes/s;
 * capacity at p99 <= 50 ms per server and room size, and p99 against the offered load of every step.
 * Each server has the same colour in every plot. A plot with nothing to show is not written (an old
 * file of that name is removed, so the directory shows the last run only).
 */
final class Plots {

  static final Map<String, Color> COLOURS = Map.of(
      "lms-realtime", new Color(31, 119, 180),
      "lms-realtime-memory", new Color(148, 103, 189),
      "lms-realtime-pg", new Color(23, 190, 207),
      "lms-realtime-pekko-http", new Color(44, 160, 44),
      "lms-realtime-3-nodes", new Color(120, 180, 230),
      "socket.io", new Color(255, 127, 14),
      "netty-ceiling", new Color(110, 110, 110));
  static final List<String> FILES = List.of("latency.png", "throughput.png", "cpu-per-delivery.png",
      "bytes-per-socket.png", "handshakes.png", "capacity.png", "capacity-steps.png", "durable.png", "publish.png",
      "lms-day.png"); // the last two written by Issue23

  private Plots() { }

  /** Writes the plots into dir; returns the file names written, in the order to show them. */
  static List<String> write(Path dir, List<ObjectNode> fanout, List<ObjectNode> hold, List<ObjectNode> storm,
                            List<ObjectNode> capacity, List<JsonNode> capacityRuns, List<ObjectNode> durable)
      throws IOException {
    System.setProperty("java.awt.headless", "true");
    Files.createDirectories(dir);
    for (String f : FILES) {
      Files.deleteIfExists(dir.resolve(f));
    }
    List<String> written = new ArrayList<>();
    try {
      if (!fanout.isEmpty()) {
        List<CategoryChart> lat = new ArrayList<>();
        for (String[] p : new String[][] {{"p50_ms", "p50"}, {"p99_ms", "p99"}, {"p999_ms", "p99.9"}}) {
          CategoryChart c = bySize(fanout, p[0], "publish-to-delivery " + p[1], "ms");
          if (c != null) {
            logScale(c);
            lat.add(c);
          }
        }
        if (!lat.isEmpty()) {
          BitmapEncoder.saveBitmap(lat, 1, lat.size(), dir.resolve("latency.png").toString(), BitmapFormat.PNG);
          written.add("latency.png");
        }
        save(bySize(fanout, "deliveries_per_s", "fan-out deliveries per second", "deliveries/s"), dir, "throughput.png", written);
        save(bySize(fanout, "server_cpu_us_per_delivery", "server CPU per delivery (lower is better)", "µs"), dir,
            "cpu-per-delivery.png", written);
      }
      if (!hold.isEmpty()) {
        CategoryChart c = new CategoryChartBuilder().width(800).height(500).title("memory per idle socket (heap after GC + native)")
            .xAxisTitle("server").yAxisTitle("bytes per socket").build();
        style(c);
        c.getStyler().setStacked(true);
        List<String> servers = new ArrayList<>();
        List<Double> heap = new ArrayList<>();
        List<Double> nat = new ArrayList<>();
        for (ObjectNode r : hold) {
          if (r.hasNonNull("bytes_per_socket")) {
            servers.add(r.get("server").asText() + " (" + r.path("sockets_at_sample").asText(r.path("members").asText()) + ")");
            heap.add(r.path("heap_bytes_per_socket").asDouble());
            nat.add(r.path("native_bytes_per_socket").asDouble());
          }
        }
        if (!servers.isEmpty()) {
          c.addSeries("heap", servers, heap).setFillColor(new Color(31, 119, 180));
          c.addSeries("native (RSS outside the heap)", servers, nat).setFillColor(new Color(174, 199, 232));
          save(c, dir, "bytes-per-socket.png", written);
        }
      }
      if (!storm.isEmpty()) {
        CategoryChart c = new CategoryChartBuilder().width(800).height(500).title("handshake storm")
            .xAxisTitle("server").yAxisTitle("handshakes/s").build();
        style(c);
        List<String> servers = new ArrayList<>();
        List<Double> warm = new ArrayList<>();
        List<Double> cold = new ArrayList<>();
        for (ObjectNode r : storm) {
          if (r.hasNonNull("handshakes_per_s")) {
            servers.add(r.get("server").asText());
            warm.add(r.path("handshakes_per_s").asDouble());
            cold.add(r.path("cold_handshakes_per_s").asDouble());
          }
        }
        if (!servers.isEmpty()) {
          c.addSeries("warm server", servers, warm).setFillColor(new Color(31, 119, 180));
          c.addSeries("fresh server (cold JIT)", servers, cold).setFillColor(new Color(174, 199, 232));
          save(c, dir, "handshakes.png", written);
        }
      }
      if (!capacity.isEmpty()) {
        save(bySize(capacity, "deliveries_per_s", "capacity at p99 <= 50 ms (higher is better)", "deliveries/s"), dir,
            "capacity.png", written);
        List<XYChart> steps = capacitySteps(capacityRuns);
        if (!steps.isEmpty()) {
          BitmapEncoder.saveBitmap(steps, 1, steps.size(), dir.resolve("capacity-steps.png").toString(), BitmapFormat.PNG);
          written.add("capacity-steps.png");
        }
      }
      if (!durable.isEmpty()) { // issue 14: per server, the publish call's and publish-to-delivery's p50 and p99
        CategoryChart c = new CategoryChartBuilder().width(800).height(500)
            .title("durable publish: 100 rooms x 5 members, 500 events/s").xAxisTitle("server").yAxisTitle("ms").build();
        style(c);
        List<String> servers = new ArrayList<>();
        List<List<Double>> ys = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        String[] fields = {"publish_p50_ms", "publish_p99_ms", "p50_ms", "p99_ms"};
        for (ObjectNode r : durable) {
          if (r.hasNonNull("publish_p99_ms") && r.hasNonNull("p99_ms")) {
            servers.add(r.get("server").asText());
            for (int i = 0; i < fields.length; i++) {
              ys.get(i).add(value(r.get(fields[i])));
            }
          }
        }
        if (!servers.isEmpty()) {
          String[] names = {"publish call p50", "publish call p99", "publish-to-delivery p50", "publish-to-delivery p99"};
          Color[] colours = {new Color(174, 199, 232), new Color(31, 119, 180), new Color(255, 187, 120), new Color(255, 127, 14)};
          for (int i = 0; i < names.length; i++) {
            c.addSeries(names[i], servers, ys.get(i)).setFillColor(colours[i]);
          }
          c.setTitle(String.format(java.util.Locale.ROOT, "durable publish: %d rooms x %d members, %d events/s",
              durable.get(0).path("rooms").asInt(), durable.get(0).path("members").asInt() / Math.max(1, durable.get(0).path("rooms").asInt()),
              durable.get(0).path("rate").asInt()));
          save(c, dir, "durable.png", written);
        }
      }
    } catch (RuntimeException | Error e) { // no fonts, no AWT: the report goes on without plots
      System.err.println("report: plots failed: " + e);
    }
    return written;
  }

  /** Category = room size, one series per server, value = field; null when no row has the field. */
  static CategoryChart bySize(List<ObjectNode> rows, String field, String title, String yTitle) {
    TreeSet<Integer> sizes = new TreeSet<>();
    List<String> servers = new ArrayList<>();
    for (ObjectNode r : rows) {
      if (r.hasNonNull(field)) {
        sizes.add(r.get("members").asInt());
        String s = r.get("server").asText();
        if (!servers.contains(s)) {
          servers.add(s);
        }
      }
    }
    if (sizes.isEmpty()) {
      return null;
    }
    CategoryChart c = new CategoryChartBuilder().width(640).height(480).title(title)
        .xAxisTitle("room members").yAxisTitle(yTitle).build();
    style(c);
    List<String> x = sizes.stream().map(String::valueOf).toList();
    servers.sort((a, b) -> Integer.compare(Report.rank(a), Report.rank(b)));
    for (String s : servers) {
      List<Double> y = new ArrayList<>();
      for (int size : sizes) {
        y.add(rows.stream().filter(r -> r.get("server").asText().equals(s) && r.get("members").asInt() == size
                && r.hasNonNull(field)).map(r -> r.get(field).asDouble()).findFirst().orElse(0.0));
      }
      CategorySeries cs = c.addSeries(s, x, y);
      Color col = COLOURS.get(s);
      if (col != null) {
        cs.setFillColor(col);
      }
    }
    return c;
  }

  /** Per room size: p99 (log scale) against each step's offered deliveries/s, one line per server, and the bound. */
  static List<XYChart> capacitySteps(List<JsonNode> runs) {
    TreeSet<Integer> sizes = new TreeSet<>();
    runs.stream().filter(r -> !r.has("error") && r.path("steps").size() > 0).forEach(r -> sizes.add(r.path("members").asInt()));
    List<XYChart> charts = new ArrayList<>();
    for (int size : sizes) {
      XYChart c = new XYChartBuilder().width(640).height(480).title("p99 per step, " + size + " members")
          .xAxisTitle("offered deliveries/s").yAxisTitle("p99 ms (log scale)").build();
      c.getStyler().setLegendPosition(LegendPosition.OutsideS);
      c.getStyler().setLegendLayout(org.knowm.xchart.style.Styler.LegendLayout.Horizontal);
      c.getStyler().setChartBackgroundColor(Color.WHITE);
      c.getStyler().setYAxisLogarithmic(true);
      double maxX = 0;
      double minX = Double.MAX_VALUE;
      List<JsonNode> these = new ArrayList<>(runs.stream().filter(r -> !r.has("error") && r.path("members").asInt() == size).toList());
      these.sort((a, b) -> Integer.compare(Report.rank(a.path("server").asText()), Report.rank(b.path("server").asText())));
      for (JsonNode r : these) {
        List<Double> x = new ArrayList<>();
        List<Double> y = new ArrayList<>();
        r.path("steps").forEach(st -> {
          if (st.path("p99_ms").isNumber() && st.path("p99_ms").asDouble() > 0) {
            x.add(st.path("offered_deliveries_per_s").asDouble());
            y.add(st.path("p99_ms").asDouble());
          }
        });
        if (x.isEmpty()) {
          continue;
        }
        maxX = Math.max(maxX, x.stream().mapToDouble(Double::doubleValue).max().orElse(0));
        minX = Math.min(minX, x.stream().mapToDouble(Double::doubleValue).min().orElse(0));
        XYSeries s = c.addSeries(r.path("server").asText(), x, y);
        s.setMarker(SeriesMarkers.CIRCLE);
        Color col = COLOURS.get(r.path("server").asText());
        if (col != null) {
          s.setLineColor(col);
          s.setMarkerColor(col);
        }
      }
      if (c.getSeriesMap().isEmpty()) {
        continue;
      }
      if (minX >= maxX) { // one step only: a visible line all the same
        minX = maxX * 0.5;
        maxX = maxX * 1.5;
      }
      double minY = c.getSeriesMap().values().stream().flatMap(se -> java.util.Arrays.stream(se.getYData()).boxed())
          .mapToDouble(Double::doubleValue).min().orElse(50);
      c.getStyler().setYAxisMin(Math.min(minY, 50) * 0.8); // the bound always in view
      XYSeries bound = c.addSeries("p99 bound 50 ms", List.of(minX, maxX), List.of(50.0, 50.0));
      bound.setMarker(SeriesMarkers.NONE);
      bound.setLineColor(Color.RED);
      charts.add(c);
    }
    return charts;
  }

  /** A logarithmic y axis when every bar is above 0 (bars start at the axis minimum, a power of 10 below). */
  static void logScale(CategoryChart c) {
    double min = Double.MAX_VALUE;
    double max = 0;
    for (CategorySeries s : c.getSeriesMap().values()) {
      for (Number n : s.getYData()) {
        if (n == null || n.doubleValue() <= 0) {
          return;
        }
        min = Math.min(min, n.doubleValue());
        max = Math.max(max, n.doubleValue());
      }
    }
    c.getStyler().setYAxisLogarithmic(true);
    c.getStyler().setYAxisMin(Math.pow(10, Math.floor(Math.log10(min))));
    c.getStyler().setYAxisMax(Math.pow(10, Math.ceil(Math.log10(max * 1.5))));
    c.setYAxisTitle(c.getYAxisTitle() + " (log scale)");
  }

  static void style(CategoryChart c) {
    c.getStyler().setLegendPosition(LegendPosition.OutsideS);
    c.getStyler().setLegendLayout(org.knowm.xchart.style.Styler.LegendLayout.Horizontal);
    c.getStyler().setChartBackgroundColor(Color.WHITE);
    c.getStyler().setPlotGridVerticalLinesVisible(false);
    c.getStyler().setLabelsVisible(true);
    c.getStyler().setAvailableSpaceFill(0.8);
  }

  static void save(CategoryChart c, Path dir, String name, List<String> written) throws IOException {
    if (c == null) {
      return;
    }
    BitmapEncoder.saveBitmap(c, dir.resolve(name).toString(), BitmapFormat.PNG);
    written.add(name);
  }

  static double value(JsonNode n) {
    return n == null || !n.isNumber() ? 0 : n.asDouble();
  }
}

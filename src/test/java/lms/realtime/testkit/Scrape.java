package lms.realtime.testkit;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads figures out of a node's /metrics text (Prometheus exposition format), for the tests. */
public final class Scrape {
  private Scrape() {}

  /** The value of one series, named with its labels as printed (e.g. {@code x_total{reason="a"}}), or null when absent. */
  public static Double find(String metrics, String series) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " ([0-9.eE+-]+)$").matcher(metrics);
    return m.find() ? Double.parseDouble(m.group(1)) : null;
  }

  /** The sum over every series of a name whose labels contain {@code labelPart} ("" for all). */
  public static double sum(String metrics, String name, String labelPart) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{[^}]*\\})? ([0-9.eE+-]+)$").matcher(metrics);
    double total = 0;
    while (m.find()) {
      if (labelPart.isEmpty() || (m.group(1) != null && m.group(1).contains(labelPart))) {
        total += Double.parseDouble(m.group(2));
      }
    }
    return total;
  }
}

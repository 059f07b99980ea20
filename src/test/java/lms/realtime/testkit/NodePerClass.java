package lms.realtime.testkit;

import java.util.Map;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One node for all the tests of a class, on the transport the run names ({@link TestNode#transport()}):
 * {@code @RegisterExtension static final NodePerClass NODE = new NodePerClass(overrides);}, then
 * {@code NODE.get()} in the tests. Started before the first test, closed after the last.
 */
public final class NodePerClass implements BeforeAllCallback, AfterAllCallback {
  private final Map<String, Object> overrides;
  private TestNode node;

  public NodePerClass() {
    this(Map.of());
  }

  public NodePerClass(Map<String, Object> overrides) {
    this.overrides = overrides;
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    node = TestNode.start(overrides);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    if (node != null) {
      node.close();
      node = null;
    }
  }

  public TestNode get() {
    if (node == null) {
      throw new IllegalStateException("the node starts before the class's first test");
    }
    return node;
  }
}

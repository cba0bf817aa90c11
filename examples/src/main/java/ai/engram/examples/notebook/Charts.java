package ai.engram.examples.notebook;

import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.SymbolAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.GrayPaintScale;
import org.jfree.chart.renderer.PaintScale;
import org.jfree.chart.renderer.xy.XYBlockRenderer;
import org.jfree.chart.title.PaintScaleLegend;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.data.xy.DefaultXYZDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.Color;
import java.awt.Paint;
import java.awt.image.BufferedImage;

/**
 * Charts for the notebooks, rendered headless to images that Jupyter kernels (ours, IJava, JJava) display as PNG.
 */
public final class Charts {

    static {
        System.setProperty("java.awt.headless", "true");
    }

    private Charts() {}

    /**
     * @param title chart title
     * @param xLabel x axis label
     * @param yLabel y axis label
     * @param width image width in pixels
     * @param height image height in pixels
     * @param series name, x values, y values; repeated for each line
     * @return the line chart
     */
    public static BufferedImage lines(String title, String xLabel, String yLabel, int width, int height,
            Object... series) {
        XYSeriesCollection data = new XYSeriesCollection();
        for (int s = 0; s + 2 < series.length + 1; s += 3) {
            XYSeries line = new XYSeries((String) series[s]);
            double[] xs = (double[]) series[s + 1];
            double[] ys = (double[]) series[s + 2];
            for (int i = 0; i < xs.length; i++) {
                line.add(xs[i], ys[i]);
            }
            data.addSeries(line);
        }
        JFreeChart chart = ChartFactory.createXYLineChart(title, xLabel, yLabel, data, PlotOrientation.VERTICAL,
                true, false, false);
        ((NumberAxis) chart.getXYPlot().getRangeAxis()).setAutoRangeIncludesZero(false);
        chart.setBackgroundPaint(Color.WHITE);
        return chart.createBufferedImage(width, height);
    }

    /**
     * A heat map of values in [0, 1] (e.g. gates): columns are tokens, rows are layers.
     *
     * @param title chart title
     * @param columns column labels (tokens)
     * @param rows row labels (layers / branches)
     * @param values {@code values[row][column]}
     * @return the heat map
     */
    public static BufferedImage heatMap(String title, String[] columns, String[] rows, double[][] values) {
        DefaultXYZDataset data = new DefaultXYZDataset();
        int n = rows.length * columns.length;
        double[][] xyz = new double[3][n];
        int i = 0;
        for (int r = 0; r < rows.length; r++) {
            for (int c = 0; c < columns.length; c++) {
                xyz[0][i] = c;
                xyz[1][i] = r;
                xyz[2][i++] = values[r][c];
            }
        }
        data.addSeries("values", xyz);
        SymbolAxis x = new SymbolAxis("token", columns);
        x.setVerticalTickLabels(true);
        SymbolAxis y = new SymbolAxis("", rows);
        XYBlockRenderer renderer = new XYBlockRenderer();
        PaintScale scale = new RedScale();
        renderer.setPaintScale(scale);
        XYPlot plot = new XYPlot(data, x, y, renderer);
        JFreeChart chart = new JFreeChart(title, plot);
        chart.removeLegend();
        PaintScaleLegend legend = new PaintScaleLegend(scale, new NumberAxis("gate"));
        legend.setPosition(RectangleEdge.RIGHT);
        chart.addSubtitle(legend);
        chart.setBackgroundPaint(Color.WHITE);
        return chart.createBufferedImage(Math.max(600, 40 * columns.length + 200), 120 + 45 * rows.length);
    }

    /** White (0) to red (1), as in the paper's gating figure. */
    private static final class RedScale extends GrayPaintScale {
        private static final long serialVersionUID = 1L;

        RedScale() {
            super(0, 1);
        }

        @Override
        public Paint getPaint(double value) {
            float v = (float) Math.max(0, Math.min(1, value));
            int other = Math.round(255 * (1 - v));
            return new Color(255, other, other);
        }
    }
}

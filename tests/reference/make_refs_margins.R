# Reference margins for mejax's margins/contrast/pwcompare (tests/test_margins.py).
# Run from the repository root:  Rscript tests/reference/make_refs_margins.R
# Writes data/margins_sim.csv and margins/margins_refs.json. Needs lme4, emmeans, jsonlite
# (pbkrtest for the Kenward-Roger block).
#
# Matching Stata's margins: for a model linear in its covariates, Stata's predictive
# margin of a factor level (the sample mean of X b with the factor set to that level)
# equals emmeans' estimate with covariates at their means; margins over at() values
# averages over the observed factor distribution = emmeans weights = "proportional".
# Asymptotic (z) inference: emm_options(lmer.df = "asymptotic"). pairs() reports
# level i - level j; Stata's pwcompare reports j vs i (the negative).
suppressPackageStartupMessages({library(lme4); library(emmeans); library(jsonlite)})
ref_dir <- file.path("tests", "reference")
set.seed(20240611)
n_id <- 40; per <- 8
d <- data.frame(id = rep(seq_len(n_id), each = per))
d$a <- sample(1:3, nrow(d), replace = TRUE, prob = c(.5, .3, .2))
d$x1 <- round(rnorm(nrow(d)), 4)
d$x2 <- round(runif(nrow(d), -1, 2), 4)
u <- rnorm(n_id, sd = 0.9)
d$y <- round(1 + 0.7 * d$x1 - 0.4 * d$x2 + c(0, 0.5, 1.1)[d$a] + 0.3 * (d$a == 3) * d$x2 +
             u[d$id] + rnorm(nrow(d)), 5)
d <- d[, c("y", "x1", "x2", "a", "id")]
write.csv(d, file.path(ref_dir, "data", "margins_sim.csv"), row.names = FALSE)
d$a <- factor(d$a)

tidy <- function(x) {
  s <- as.data.frame(summary(x, infer = c(TRUE, TRUE), level = 0.95))
  est <- if ("emmean" %in% names(s)) s$emmean else if ("estimate" %in% names(s)) s$estimate
         else s[[grep("\\.trend$", names(s))]]
  lo <- if ("asymp.LCL" %in% names(s)) s$asymp.LCL else s$lower.CL
  hi <- if ("asymp.UCL" %in% names(s)) s$asymp.UCL else s$upper.CL
  out <- list(estimate = est, se = s$SE, lower = lo, upper = hi, df = s$df)
  if ("contrast" %in% names(s)) out$label <- as.character(s$contrast)
  if ("a" %in% names(s)) out$level <- as.character(s$a)
  out
}

emm_options(lmer.df = "asymptotic")
m1 <- lmer(y ~ x1 + x2 + a + (1 | id), data = d, REML = FALSE)
m2 <- lmer(y ~ x1 + a * x2 + (1 | id), data = d, REML = FALSE)
jt1 <- as.data.frame(joint_tests(m1))
refs <- list(
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  emmeans = as.character(packageVersion("emmeans"))),
  additive = list(
    stata = "mixed y x1 x2 i.a || id:",
    fixef = as.list(fixef(m1)), loglik = as.numeric(logLik(m1)),
    margins_a = tidy(emmeans(m1, ~a)),
    margins_at_x1 = tidy(emmeans(m1, ~x1, at = list(x1 = c(0, 1, 2)),
                                 weights = "proportional")),
    pairs_a = tidy(pairs(emmeans(m1, ~a), adjust = "none")),
    dydx_x1 = tidy(emtrends(m1, ~1, var = "x1")),
    contrast_a = list(df = jt1$df1[jt1$`model term` == "a"],
                      chi2 = jt1$F.ratio[jt1$`model term` == "a"] *
                        jt1$df1[jt1$`model term` == "a"])
  ),
  interaction = list(
    stata = "mixed y x1 i.a##c.x2 || id:",
    margins_a = tidy(emmeans(m2, ~a)),
    dydx_x2_by_a = tidy(emtrends(m2, ~a, var = "x2")),
    margins_a_at_x2 = tidy(emmeans(m2, ~a | x2, at = list(x2 = c(0, 1))))
  )
)
if (requireNamespace("pbkrtest", quietly = TRUE)) {
  m3 <- lmer(y ~ x1 + x2 + a + (1 | id), data = d, REML = TRUE)
  emm_options(lmer.df = "kenward-roger")
  refs$kroger <- list(stata = "mixed y x1 x2 i.a || id:, reml dfmethod(kroger)",
                      margins_a = tidy(emmeans(m3, ~a)))
}
write(toJSON(refs, auto_unbox = TRUE, digits = NA, pretty = TRUE),
      file.path(ref_dir, "margins", "margins_refs.json"))

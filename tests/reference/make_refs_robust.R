# References for the robustness tests (issue 20): fits on rescaled and shifted covariates.
# Run from the repository root:  Rscript tests/reference/make_refs_robust.R
# Writes tests/reference/robust/{lmm_scale,glmm_scale,collinear}.csv and robust.json.
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
dir <- file.path("tests", "reference", "robust")
software <- sprintf("R lme4 %s", packageVersion("lme4"))

# 60 groups x 8, random intercept and slope
set.seed(20)
G <- 60; n <- 8
g <- rep(seq_len(G), each = n)
x <- rnorm(G * n)
y <- 1 + 0.5 * x + rnorm(G)[g] + 0.5 * rnorm(G)[g] * x + 2 * rnorm(G * n)
lmm <- data.frame(y = y, x = x, g = g)
write.csv(lmm, file.path(dir, "lmm_scale.csv"), row.names = FALSE)

# 50 groups x 10 Bernoulli outcomes, random intercept
set.seed(21)
G <- 50; n <- 10
g <- rep(seq_len(G), each = n)
x <- rnorm(G * n)
eta <- -0.3 + 0.8 * x + 0.8 * rnorm(G)[g]
glmm <- data.frame(y = as.integer(runif(G * n) < plogis(eta)), x = x, g = g)
write.csv(glmm, file.path(dir, "glmm_scale.csv"), row.names = FALSE)

lmm_fit <- function(scale, shift) {
  d <- transform(lmm, x = x * scale + shift)
  m <- lmer(y ~ x + (1 + x | g), d, REML = FALSE)
  vc <- as.data.frame(VarCorr(m))
  w <- m@optinfo$conv$lme4$messages
  list(scale = scale, shift = shift, loglik = as.numeric(logLik(m)),
       fixef = unname(fixef(m)), fixef_se = unname(sqrt(diag(as.matrix(vcov(m))))),
       var_intercept = vc$vcov[1], var_slope = vc$vcov[2], cov = vc$vcov[3],
       var_residual = vc$vcov[4], warnings = if (is.null(w)) list() else as.list(w))
}
glmm_fit <- function(scale, shift) {
  d <- transform(glmm, x = x * scale + shift)
  m <- glmer(y ~ x + (1 | g), d, family = binomial, nAGQ = 1)
  w <- m@optinfo$conv$lme4$messages
  list(scale = scale, shift = shift, loglik = as.numeric(logLik(m)),
       fixef = unname(fixef(m)), fixef_se = unname(sqrt(diag(as.matrix(vcov(m))))),
       var_intercept = as.data.frame(VarCorr(m))$vcov[1],
       warnings = if (is.null(w)) list() else as.list(w))
}
lmm_cases <- lapply(list(c(1, 0), c(1e-4, 0), c(1e3, 0)), function(s) lmm_fit(s[1], s[2]))
glmm_cases <- lapply(list(c(1, 0), c(1e4, 0), c(1e4, 5e4)), function(s) glmm_fit(s[1], s[2]))

# Near-collinear columns at an extreme scale: x3 = x1 + 1e-7 noise, both times 1e-8.
# lme4 drops x3 (rank-deficient X, pivoted QR); the fit then equals the one without x3.
set.seed(22)
G <- 30; n <- 5
g <- rep(seq_len(G), each = n)
x1 <- rnorm(G * n); x2 <- rnorm(G * n)
x3 <- x1 + 1e-7 * rnorm(G * n)
y <- 1 + x1 - x2 + rnorm(G)[g] + rnorm(G * n)
col <- data.frame(y = y, x1 = 1e-8 * x1, x2 = x2, x3 = 1e-8 * x3, g = g)
write.csv(col, file.path(dir, "collinear.csv"), row.names = FALSE)
mc <- lmer(y ~ x1 + x2 + x3 + (1 | g), col, REML = FALSE)
m2 <- lmer(y ~ x1 + x2 + (1 | g), col, REML = FALSE)
collinear <- list(loglik = as.numeric(logLik(mc)), fixef = as.list(fixef(mc)),
                  loglik_without_x3 = as.numeric(logLik(m2)))

write(toJSON(list(software = software, lmm_scale = lmm_cases, glmm_scale = glmm_cases,
                  collinear = collinear),
             auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
      file.path(dir, "robust.json"))

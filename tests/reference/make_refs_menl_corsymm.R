# References for menl's rescorrelation(unstructured, t()): an unstructured correlation
# matrix with one common variance, R's nlme corSymm(form = ~occ | id) without varIdent
# (Lindstrom-Bates, ML). Run from the repository root:
#   Rscript tests/reference/make_refs_menl_corsymm.R
# The data are simulated here (a monomolecular growth curve, 100 subjects at four occasions,
# AR-like but distinct correlations, about 10% of the rows dropped so groups are
# unbalanced) and written to tests/reference/menl/corsymm_growth.csv.
# Writes tests/reference/menl/corsymm_growth_ml.json (layout of make_refs_menl_resid.R)
# plus the six correlations and their standard errors (from nlme's apVar, see below).
source(file.path("tests", "reference", "menl_nlme_helpers.R"))

set.seed(20261201)
n_id <- 100
times <- c(1, 2, 4, 8)
corr <- matrix(c(1, .6, .4, .1,
                 .6, 1, .5, .3,
                 .4, .5, 1, .55,
                 .1, .3, .55, 1), 4, 4)
sigma <- 1.5
u <- rnorm(n_id, 0, 2)
e <- matrix(rnorm(n_id * 4), n_id, 4) %*% chol(sigma^2 * corr)
grid <- expand.grid(occ = 1:4, id = 1:n_id)
grid <- grid[, c("id", "occ")]
grid$time <- times[grid$occ]
grid$y <- (30 + u[grid$id]) * (1 - exp(-exp(-1.2) * grid$time)) +
  e[cbind(grid$id, grid$occ)]
keep <- runif(nrow(grid)) > 0.08
growth <- grid[keep, ]
write.csv(growth, file.path(out_dir, "corsymm_growth.csv"), row.names = FALSE)

f <- fit_nlme(y ~ (A) * (1 - exp(-exp(lrc) * time)), data = growth,
              fixed = A + lrc ~ 1, random = A ~ 1 | id,
              correlation = corSymm(form = ~occ | id),
              start = c(A = 30, lrc = -1.2), method = "ML")
stata <- paste("menl y = ({b1}+{U[id]})*(1-exp(-exp({b2})*time)),",
               "initial(b1 30 b2 -1.2) rescorrelation(unstructured, t(occ))")
save_case("corsymm_growth_ml", f, "corsymm_growth.csv", stata)

# the correlations in Stata's order corr(e1,e2), corr(e1,e3), ..., corr(e3,e4) (corSymm's
# coefficient order), and their standard errors: nlme's apVar holds corSymm on corNatural's
# scale u = log((1 + r) / (1 - r)), so se(r) = se(u) (1 - r^2) / 2
est <- as.numeric(coef(f$modelStruct$corStruct, unconstrained = FALSE))
idx <- grep("^corStruct", rownames(f$apVar))
se <- unname(sqrt(diag(f$apVar))[idx]) * (1 - est^2) / 2
path <- file.path(out_dir, "corsymm_growth_ml.json")
case <- fromJSON(path, simplifyVector = FALSE)
case$reference$correlations <- as.list(est)
case$reference$correlation_se <- as.list(se)
write(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
      path)
cat("correlations", est, "\nse", se, "\n")

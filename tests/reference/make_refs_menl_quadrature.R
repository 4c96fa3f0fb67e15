# Brute-force maximum likelihood for menl's adaptive quadrature (intmethod(mvaghermite)):
# Orange with the random effect on xmid, where the mean is nonlinear in the effect (so
# Laplace is not exact). The marginal likelihood of each tree is integrated by R's
# integrate() (adaptive Gauss-Kronrod, rel.tol 1e-12), maximised by optim (BFGS) from
# nlme's linearised estimates; SEs from numDeriv's Hessian of that log likelihood.
# R's lme4::nlmer has no quadrature (nAGQ > 1 "not yet implemented for nlmer models").
# Run from the repository root:  Rscript tests/reference/make_refs_menl_quadrature.R
suppressPackageStartupMessages({ library(nlme); library(numDeriv); library(jsonlite) })
out_dir <- file.path("tests", "reference", "menl")
orange <- as.data.frame(Orange)
trees <- split(orange, orange$Tree)

lin <- nlme(circumference ~ Asym / (1 + exp(-(age - xmid) / scal)), data = orange,
            fixed = Asym + xmid + scal ~ 1, random = xmid ~ 1 | Tree,
            start = c(Asym = 192, xmid = 728, scal = 353), method = "ML")

loglik <- function(par) {
  b <- par[1:3]; sd_u <- exp(par[4]); sigma <- exp(par[5])
  sum(sapply(trees, function(d) {
    dens <- function(u) sapply(u, function(v) {
      f <- b[1] / (1 + exp(-(d$age - b[2] - v) / b[3]))
      exp(sum(dnorm(d$circumference, f, sigma, log = TRUE)) + dnorm(v, 0, sd_u, log = TRUE)
          + 120)
    })
    log(integrate(dens, -12 * sd_u, 12 * sd_u, rel.tol = 1e-12, subdivisions = 500)$value) - 120
  }))
}
start <- c(fixef(lin), log(sqrt(as.numeric(VarCorr(lin)[1, 1]))), log(lin$sigma))
opt <- optim(start, function(p) -loglik(p), method = "BFGS",
             control = list(reltol = 1e-14, maxit = 1000, parscale = abs(start) + 1))
H <- hessian(loglik, opt$par)
cov <- solve(-H)
par <- opt$par
ref <- list(software = paste("R", getRversion(), "integrate + optim; nlme",
                             packageDescription("nlme")$Version),
            convergence = opt$convergence, loglik = -opt$value,
            fixef = as.list(setNames(par[1:3], c("b1", "b2", "b3"))),
            fixef_se = as.list(setNames(sqrt(diag(cov))[1:3], c("b1", "b2", "b3"))),
            var_u = exp(2 * par[4]), sigma2 = exp(2 * par[5]),
            linearised_loglik = as.numeric(logLik(lin)))
case <- list(id = "aghq_orange_xmid", data = "orange.csv",
             stata = paste("menl circumference = {b1}/(1+exp(-(age-{b2}-{U[Tree]})/{b3})),",
                           "initial(b1 192 b2 728 b3 353) intmethod(mvaghermite) intpoints(#)"),
             reference = ref)
write(toJSON(case, auto_unbox = TRUE, digits = NA, pretty = TRUE),
      file.path(out_dir, "aghq_orange_xmid.json"))
cat("aghq_orange_xmid: loglik", ref$loglik, "linearised", ref$linearised_loglik,
    "convergence", opt$convergence, "\n")
print(par); print(sqrt(diag(cov)))
